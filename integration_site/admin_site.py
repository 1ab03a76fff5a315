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
