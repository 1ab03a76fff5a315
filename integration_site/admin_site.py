from django.contrib import admin


class IntegrationAdminSite(admin.AdminSite):
    site_header = "Integration Site"
    site_title = "Integration Site"
    index_title = "Console"
    index_template = "admin/integration_index.html"

    def index(self, request, extra_context=None):
        # Each app contributes its own dashboard panels (startup status, event counts, ...)
        # without this module knowing about them.
        from integration_site.dashboard import dashboard_panels

        extra_context = {**(extra_context or {}), "dashboard_panels": dashboard_panels(request)}
        return super().index(request, extra_context)


class ReadOnlyAdminMixin:
    """
    For rows only services write (audit events, results, jobs, heartbeats): the admin shows
    them, but adding or editing one by hand would bypass the service that keeps them true
    (and the audit trail that records it). Deleting is refused too unless `allow_delete`,
    and then still subject to the model's delete permission.
    """

    allow_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.allow_delete and super().has_delete_permission(request, obj)
