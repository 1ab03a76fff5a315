from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.urls import reverse

from integration_site.client_ip import client_ip
from integration_site.lockout import (
    login_failure_record,
    login_failures_clear,
    login_lockout_check,
)
from integration_site.registry import registry
from integration_site.replicas import replica_reads_view


class LockoutAdminAuthenticationForm(AdminAuthenticationForm):
    """
    The admin's sign-in form on the lockout ledger (integration_site.lockout), as HTTP Basic
    and the Identity API are: a locked username or address is refused before authenticate()
    hashes anything, and each rejected password counts.
    """

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "locked_out": (
            "Too many failed sign-ins for this username or from this address; "
            "try again in %(seconds)s seconds."
        ),
    }

    # Seconds until a locked-out sign-in may try again; the login view answers 429 with it.
    retry_after: int | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is None or not self.cleaned_data.get("password"):
            return super().clean()  # Nothing gets hashed: the form is incomplete.
        address = client_ip(self.request) if self.request is not None else None
        self.retry_after = login_lockout_check(username=username, address=address)
        if self.retry_after is not None:
            raise ValidationError(
                self.error_messages["locked_out"],
                code="locked_out",
                params={"seconds": self.retry_after},
            )
        try:
            cleaned = super().clean()
        except ValidationError as exc:
            if exc.code == "invalid_login":  # a wrong password, or a user the admin refuses
                login_failure_record(username=username, address=address)
            raise
        login_failures_clear(username=username, address=address)
        return cleaned


@dataclass(frozen=True)
class AdminPage:
    """
    A console page that is a view, not a model (registry["admin_pages"]): listed with its
    app's models in the app list and the navigation sidebar, to users holding `permission`,
    so the page is found where the admin's users look for everything else.
    """

    app_label: str
    name: str
    url_name: str
    permission: str


class IntegrationAdminSite(admin.AdminSite):
    site_header = "Integration Site"
    site_title = "Integration Site"
    index_title = "Console"
    index_template = "admin/integration_index.html"
    login_form = LockoutAdminAuthenticationForm

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        retry_after = getattr(form, "retry_after", None)
        if retry_after is not None:
            # The page still shows the form and says why; scripts see a plain 429.
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response

    def _build_app_dict(self, request, label=None):
        app_dict = super()._build_app_dict(request, label)  # app label -> app, even with `label`
        for page in registry["admin_pages"]:
            app = app_dict.get(page.app_label)
            if app is None or not request.user.has_perm(page.permission):
                continue
            app["models"].append(
                {
                    "model": None,
                    "name": page.name,
                    # The row's id is "<app>-<object_name>": suffixed so it cannot take the
                    # id of an element of the page itself (the overview's root is
                    # "monitoring-overview"; the sidebar comes first in the document).
                    "object_name": page.name.replace(" ", "") + "Page",
                    "perms": {"view": True},
                    "admin_url": reverse(page.url_name, current_app=self.name),
                    "add_url": None,
                    "view_only": True,
                }
            )
        return app_dict

    # The dashboard's figures may be a little stale: from a replica when there is one.
    @replica_reads_view
    def index(self, request, extra_context=None):
        # Each app contributes its own dashboard panels (startup status, event counts, ...)
        # without this module knowing about them.
        from integration_site.dashboard import dashboard_charts_script, dashboard_panels

        extra_context = {
            **(extra_context or {}),
            "dashboard_panels": dashboard_panels(request),
            "dashboard_charts_script": dashboard_charts_script(),
        }
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
