"""
"View as customer" in the console: a group's log through Retraced's own logs-viewer widget
(the npm package, bundled by scripts/build_js.sh into audits/static), exactly as a vendor's
page embeds it. The page mints a viewer token for (project, environment, group) and the
widget does the rest against `/viewer/v1`; its `refreshToken` asks this page's token endpoint
for a fresh one when the viewer session ends. Wired into the audit admin's URLs by
audits/admin.py (`group_log_urls`), so every page is staff-only behind the admin's login.
"""

from django.contrib.admin import ModelAdmin
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, JsonResponse
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.http import urlencode

from audits.models import DEFAULT_ENVIRONMENT_ID, DEFAULT_PROJECT_ID
from audits.retraced.viewer_services import viewer_token_create
from audits.selectors import audit_groups_recent
from audits.tenancy import environment_get

# The widget's bundle, built from package-lock.json (not committed; see README).
LOGS_VIEWER_BUNDLE = "audits/retraced/logs-viewer.js"
# The Groups page looks at this many of the newest events, and lists at most this many groups.
GROUPS_SCANNED = 10_000
GROUPS_LISTED = 100
GROUP_ID_MAX = 255


def group_log_urls(model_admin: ModelAdmin) -> list:
    """The Groups page, a group's log and its token refresh, under the audit admin."""
    wrap = model_admin.admin_site.admin_view
    views = GroupLogViews(model_admin)
    return [
        path("groups/", wrap(views.groups), name="audits_auditevent_groups"),
        path("groups/log/", wrap(views.group_log), name="audits_auditevent_group_log"),
        path("groups/log/token/", wrap(views.token), name="audits_auditevent_group_log_token"),
    ]


def group_log_url(*, project: str, environment: str, group_id: str) -> str:
    query = urlencode({"project": project, "environment": environment, "group": group_id})
    return f"{reverse('admin:audits_auditevent_group_log')}?{query}"


class GroupLogViews:
    def __init__(self, model_admin: ModelAdmin):
        self.model_admin = model_admin

    def _context(self, request, title: str) -> dict:
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied  # the widget shows what the audit list shows
        return {
            **self.model_admin.admin_site.each_context(request),
            "opts": self.model_admin.opts,
            "title": title,
            "has_view_permission": True,
        }

    def groups(self, request):
        context = self._context(request, "Groups")
        groups = audit_groups_recent(scanned=GROUPS_SCANNED, limit=GROUPS_LISTED)
        for group in groups:
            group["log_url"] = group_log_url(
                project=group["project"],
                environment=group["environment"],
                group_id=group["group_id"],
            )
        context.update(
            groups=groups,
            scanned=f"{GROUPS_SCANNED:,}",
            default_project=DEFAULT_PROJECT_ID,
            default_environment=DEFAULT_ENVIRONMENT_ID,
        )
        return TemplateResponse(request, "admin/audits/retraced/groups.html", context)

    def group_log(self, request):
        context = self._context(request, "Group audit log")
        tenancy, error = _tenancy(request.GET)
        if error:
            context.update(error=error)
            return TemplateResponse(
                request, "admin/audits/retraced/group_log.html", context, status=400
            )
        project, environment, group_id = tenancy
        context.update(
            title=f"Audit log of {group_id}, as the customer sees it",
            project=project,
            environment=environment,
            group_id=group_id,
            bundle_url=_bundle_url(),
            token=_token_for(request, *tenancy),
            # The widget's host is the absolute /viewer/v1 URL, as on a vendor's page.
            viewer_host=request.build_absolute_uri("/viewer/v1"),
            refresh_url=(
                f"{reverse('admin:audits_auditevent_group_log_token')}?{request.GET.urlencode()}"
            ),
            changelist_url=(
                f"{reverse('admin:audits_auditevent_changelist')}?"
                + urlencode({"project": project, "environment": environment, "group_id": group_id})
            ),
        )
        return TemplateResponse(request, "admin/audits/retraced/group_log.html", context)

    def token(self, request):
        """A fresh viewer token for the widget's refreshToken (POST: it mints a credential)."""
        if not self.model_admin.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        tenancy, error = _tenancy(request.GET)
        if error:
            return JsonResponse({"message": error}, status=400)
        return JsonResponse({"token": _token_for(request, *tenancy)})


def _tenancy(params) -> tuple[tuple[str, str, str], str]:
    """(project, environment, group) from the query string, or an error naming the problem."""
    project = params.get("project") or DEFAULT_PROJECT_ID
    environment = params.get("environment") or DEFAULT_ENVIRONMENT_ID
    group_id = params.get("group", "")
    if not group_id.strip():
        return ("", "", ""), "Name a group: ?group=<group id> (Retraced's group_id)."
    if len(group_id) > GROUP_ID_MAX:
        return ("", "", ""), f"A group id has at most {GROUP_ID_MAX} characters."
    if environment_get(project=project, environment=environment) is None:
        return ("", "", ""), f"No environment {environment!r} in project {project!r}."
    return (project, environment, group_id), ""


def _token_for(request, project: str, environment: str, group_id: str) -> str:
    # The staff member is the viewer: the trail's view_log_action events name them.
    return viewer_token_create(
        project=project,
        environment=environment,
        group_id=group_id,
        actor_id=f"console:{request.user.get_username()}",
        is_admin=False,
    )


def _bundle_url() -> str | None:
    """The bundle's static URL, or None when scripts/build_js.sh has not built it."""
    if finders.find(LOGS_VIEWER_BUNDLE) is None:
        return None
    try:
        return static(LOGS_VIEWER_BUNDLE)
    except ValueError:  # the manifest storage knows no such file
        return None
