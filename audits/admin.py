"""
The audit admin: a read-only changelist (filters, date hierarchy, capped counts), a detail page
with the old -> new table and Foreman-style "same request / target / user" links, CSV and
JSON Lines export of the filtered list and chain verification, both run as background jobs
(audits.jobs) with pages showing their progress.
"""

import copy
import json
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Max, Min
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode

from audits.admin_search import ScopedSearchAdminMixin
from audits.background import audit_export_start, audit_verification_start
from audits.foreman import admin as foreman_admin  # noqa: F401 (hosts, locations, organizations)
from audits.jobs import export_path, export_target
from audits.models import (
    DEFAULT_ENVIRONMENT_ID,
    DEFAULT_PROJECT_ID,
    AuditEvent,
    AuditExport,
    AuditJobState,
    AuditSource,
    AuditVerification,
    Crud,
    Environment,
    ExportFormat,
    Project,
    RetracedEnterpriseToken,
    RetracedSavedExport,
    RetracedViewerDescriptor,
)
from audits.paginator import COUNT_CAP, CappedCountPaginator
from audits.retraced.admin import group_log_url, group_log_urls
from audits.retraced.viewer_services import enterprise_token_console_delete
from audits.selectors import (
    audit_event_distinct_values,
    audit_export_may_download,
    audit_exports_visible,
)
from audits.services import audit_event_record
from audits.templatetags.audit_display import visible_text
from integration_site.admin_site import ReadOnlyAdminMixin
from integration_site.models import ApiToken
from integration_site.permissions import principal_has_scope
from integration_site.replicas import replica_reads_view
from integration_site.scopes import Scope

# Sidebar filters list at most this many distinct values; the search box finds the rest.
FILTER_CHOICES_LIMIT = 50
# The date hierarchy offers at most this many recent years (plus the first one), so one event
# an integration dated in 1970 does not add fifty links.
DATE_HIERARCHY_YEARS = 20
# The Exports page lists this many of the newest exports.
EXPORTS_LISTED = 50


class LimitedValuesFilter(admin.AllValuesFieldListFilter):
    title_override = ""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        # Not the parent's `SELECT DISTINCT` over every event: an index probe per value.
        self.lookup_choices = audit_event_distinct_values(field_path, limit=FILTER_CHOICES_LIMIT)
        if self.title_override:
            self.title = self.title_override

    def choices(self, changelist):
        # The values are an integration's text: shown like the list's cells, so a newline or a
        # bidi override cannot fake another choice. The link still filters on the raw value.
        for choice in super().choices(changelist):
            if isinstance(choice["display"], str):
                # A blank value (events without a target) would be a link with no name.
                shown = visible_text(choice["display"]) if choice["display"] else "(blank)"
                choice = {**choice, "display": shown}
            yield choice


class UserFilter(LimitedValuesFilter):
    title_override = "user"


class TargetTypeFilter(LimitedValuesFilter):
    title_override = "target type"


class ProjectFilter(admin.SimpleListFilter):
    """Retraced's project: the choices are the Project rows (a few), not a scan of events."""

    title = "project"
    parameter_name = "project"

    def lookups(self, request, model_admin):
        return [(p.pk, p.name or p.pk) for p in Project.objects.all()[:FILTER_CHOICES_LIMIT]]

    def queryset(self, request, queryset):
        return queryset.filter(project=self.value()) if self.value() else queryset


class EnvironmentFilter(admin.SimpleListFilter):
    """The environment, by slug; with a project chosen, that project's environments only."""

    title = "environment"
    parameter_name = "environment"

    def lookups(self, request, model_admin):
        environments = Environment.objects.all()
        project = request.GET.get(ProjectFilter.parameter_name)
        if project:
            environments = environments.filter(project_id=project)
        slugs = environments.order_by("slug").values_list("slug", flat=True).distinct()
        return [(slug, slug) for slug in slugs[:FILTER_CHOICES_LIMIT]]

    def queryset(self, request, queryset):
        return queryset.filter(environment=self.value()) if self.value() else queryset


class DateRangeFilter(admin.FieldListFilter):
    """From/to dates (inclusive, UTC) through a small GET form; index-friendly bounds."""

    template = "admin/audits/date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.param_from = f"{field_path}__range_from"
        self.param_to = f"{field_path}__range_to"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.title = "date range"
        self.errors: list[str] = []
        self.start = self._parse(self.param_from)
        self.end = self._parse(self.param_to)

    def _parse(self, name: str) -> date | None:
        raw = self.used_parameters.get(name)
        if isinstance(raw, list):
            raw = raw[-1] if raw else None
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.errors.append(f"{visible_text(raw)[:40]} is not a date (YYYY-MM-DD).")
            return None

    def expected_parameters(self):
        return [self.param_from, self.param_to]

    def has_output(self) -> bool:
        return True

    def queryset(self, request, queryset):
        if self.start:
            queryset = queryset.filter(
                **{f"{self.field_path}__gte": datetime.combine(self.start, time.min, tzinfo=UTC)}
            )
        if self.end:
            end = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)
            queryset = queryset.filter(**{f"{self.field_path}__lt": end})
        return queryset

    def choices(self, changelist):
        others = [
            (name, value)
            for name, value in changelist.params.items()
            if name not in (self.param_from, self.param_to)
        ]
        yield {
            "selected": bool(self.start or self.end),
            "param_from": self.param_from,
            "param_to": self.param_to,
            "value_from": self.start.isoformat() if self.start else "",
            "value_to": self.end.isoformat() if self.end else "",
            "hidden": others,
            "errors": self.errors,
            "clear_url": changelist.get_query_string(remove=[self.param_from, self.param_to]),
            "display": "date range",
        }


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, ScopedSearchAdminMixin, admin.ModelAdmin):
    """
    Read-only: the trail is append-only, so no add, change or delete from the admin. The
    search box is the scoped-search language (ScopedSearchAdminMixin overrides
    `get_search_results`); everything else here is plain admin configuration.
    """

    list_display = ["time", "action_shown", "user", "target", "source", "remote_address"]
    list_display_links = ["time"]
    # Groups are a vendor's customers, too many for a sidebar: the search box finds them
    # (`group_id = acme`), and an event's page links to the rest of its group.
    list_filter = [
        ProjectFilter,
        EnvironmentFilter,
        ("action", LimitedValuesFilter),
        "source",
        ("target_type", TargetTypeFilter),
        ("actor_name", UserFilter),
        ("created_at", DateRangeFilter),
    ]
    date_hierarchy = "created_at"
    # Facets ("Show counts", `?_facets`) are one COUNT(*) FILTER per sidebar choice over the
    # whole filtered table on every page view; the capped paginator is the only count.
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    change_list_template = "admin/audits/auditevent/change_list.html"

    # --- Columns (escaped: control characters shown, HTML escaped by the admin) ----------

    @admin.display(description="time", ordering="created_at")
    def time(self, event: AuditEvent) -> str:
        return event.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    @admin.display(description="action", ordering="action")
    def action_shown(self, event: AuditEvent) -> str:
        return visible_text(event.action)

    @admin.display(description="user", ordering="actor_name")
    def user(self, event: AuditEvent) -> str:
        return visible_text(event.actor_name or event.actor_type)

    @admin.display(description="target")
    def target(self, event: AuditEvent) -> str:
        label = event.target_name or event.target_id
        return visible_text(f"{event.target_type} {label}".strip())

    # --- Counts --------------------------------------------------------------------------

    def get_changelist(self, request, **kwargs):
        return AuditChangeList  # the date hierarchy without SELECT DISTINCT

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        paginator = changelist.paginator
        changelist.count_is_capped = getattr(paginator, "count_is_capped", False)
        changelist.count_is_estimate = getattr(paginator, "count_is_estimate", False)
        changelist.count_cap = f"{getattr(paginator, 'count_cap', COUNT_CAP):,}"
        return changelist

    # --- Extra pages -----------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("export.csv", wrap(self.export_csv_view), name="{}_{}_export_csv".format(*info)),
            path(
                "export.jsonl",
                wrap(self.export_jsonl_view),
                name="{}_{}_export_jsonl".format(*info),
            ),
            path("exports/", wrap(self.exports_view), name="{}_{}_exports".format(*info)),
            path(
                "exports/<int:export_id>/download/",
                wrap(self.export_download_view),
                name="{}_{}_export_download".format(*info),
            ),
            path("verify/", wrap(self.verify_view), name="{}_{}_verify".format(*info)),
            path(
                "verify/<int:verification_id>/",
                wrap(self.verification_view),
                name="{}_{}_verification".format(*info),
            ),
            *group_log_urls(self),  # "View as customer": a group's log in Retraced's widget
            *super().get_urls(),
        ]

    # The list and its search may be a little stale: from a replica when there is one.
    @replica_reads_view
    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_verify": principal_has_scope(request.user, Scope.AUDIT_VERIFY),
            "group_log_url": _group_log_url_of_filter(request.GET),
        }
        return super().changelist_view(request, extra_context)

    # --- Exports: a background job each (audits.jobs), then a download -------------------

    def _export(self, request, *, fmt: str):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            # It starts work and writes a file: a POST form, so the admin's CSRF check
            # applies and a link on another site cannot start one.
            return HttpResponseNotAllowed(["POST"])
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            messages.error(request, "The list's filters are not valid; nothing was exported.")
            return HttpResponseRedirect(reverse("admin:audits_auditevent_changelist"))
        export = audit_export_start(user=request.user, fmt=fmt, query=changelist.get_query_string())
        messages.info(request, f"Export #{export.pk} started; it is listed below.")
        return HttpResponseRedirect(reverse("admin:audits_auditevent_exports"))

    def export_csv_view(self, request):
        return self._export(request, fmt=ExportFormat.CSV)

    def export_jsonl_view(self, request):
        return self._export(request, fmt=ExportFormat.JSONL)

    def exports_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        exports = list(audit_exports_visible(request.user)[:EXPORTS_LISTED])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Audit exports",
            "exports": exports,
            "retention_hours": settings.AUDIT_EXPORT_RETENTION_HOURS,
            "refresh": any(export.is_active for export in exports),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/audits/auditevent/exports.html", context)

    def export_download_view(self, request, export_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        export = get_object_or_404(AuditExport, pk=export_id if export_id < 2**63 else 0)
        if not audit_export_may_download(export, request.user):
            raise PermissionDenied
        path = export_path(export)
        if export.state != AuditJobState.SUCCEEDED or export.purged_at or not path.exists():
            raise Http404("This export has no file: it has not finished, failed or was purged.")
        audit_event_record(
            action="audit.export.download",
            crud=Crud.READ,
            source=AuditSource.SITE,
            target=export_target(export),
            description=f"Downloaded audit export #{export.pk} ({export.rows_written} rows)",
        )
        content_type = "text/csv" if export.format == ExportFormat.CSV else "application/jsonl"
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=export.download_name,
            content_type=content_type,
        )

    # --- Chain verification: a background job, its page polled by a refresh ----------------

    def verify_view(self, request):
        if not principal_has_scope(request.user, Scope.AUDIT_VERIFY):
            raise PermissionDenied
        if request.method != "POST":
            # It links pending events and walks the whole chain: not something a link on
            # another site should be able to start (POST, so the admin's CSRF check applies).
            return HttpResponseNotAllowed(["POST"])
        job, _ = audit_verification_start(user=request.user)
        return HttpResponseRedirect(reverse("admin:audits_auditevent_verification", args=[job.pk]))

    def verification_view(self, request, verification_id: int):
        if not principal_has_scope(request.user, Scope.AUDIT_VERIFY):
            raise PermissionDenied
        job = get_object_or_404(
            AuditVerification, pk=verification_id if verification_id < 2**63 else 0
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Chain verification #{job.pk}",
            "job": job,
            "refresh": job.is_active,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/audits/auditevent/verification.html", context)

    # --- Detail page -----------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event = self.get_object(request, unquote(object_id))
        if event is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, event):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Audit event {event.pk}",
            "subtitle": visible_text(str(event)),
            "event": event,
            "rows": _detail_rows(event),
            "changes": _change_rows(event),
            "links": _filter_links(event),
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/audits/auditevent/detail.html", context)


class _DatesFromBounds:
    """
    The changelist's queryset as Django's `date_hierarchy` tag sees it: `datetimes()` is every
    year (month, day) from the first event to the last, from one MIN/MAX that the
    (created_at DESC, id DESC) index answers, instead of a SELECT DISTINCT date_trunc(...)
    over every matching row. A period in between without events is offered too; it lists
    nothing. Anything else the tag asks goes to the real queryset.
    """

    def __init__(self, queryset, field: str):
        self._queryset = queryset
        self._field = field

    def __getattr__(self, name):
        return getattr(self._queryset, name)

    @cached_property
    def _bounds(self) -> dict:
        return self._queryset.aggregate(first=Min(self._field), last=Max(self._field))

    def aggregate(self, **kwargs) -> dict:
        return self._bounds  # the tag asks for exactly this MIN/MAX

    def datetimes(self, field: str, kind: str) -> list[date]:
        # Dates, not datetimes: the tag only reads .year, .month and .day and formats them.
        if not (self._bounds["first"] and self._bounds["last"]):
            return []
        first = timezone.localtime(self._bounds["first"]).date()
        last = timezone.localtime(self._bounds["last"]).date()
        if kind == "year":
            recent = range(max(first.year, last.year - DATE_HIERARCHY_YEARS + 1), last.year + 1)
            return [date(year, 1, 1) for year in sorted({first.year, *recent})]
        if kind == "month":
            # Asked for within one year (the tag's year level), so at most twelve.
            return [
                date(year, month, 1)
                for year in range(first.year, last.year + 1)
                for month in range(1, 13)
                if (first.year, first.month) <= (year, month) <= (last.year, last.month)
            ]
        # Asked for within one month (the tag's month level), so at most 31.
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class AuditChangeList(ChangeList):
    @cached_property
    def bounded_date_hierarchy(self) -> dict | None:
        """Django's date hierarchy, fed from MIN/MAX (see _DatesFromBounds)."""
        view = copy.copy(self)
        view.queryset = _DatesFromBounds(self.queryset, self.date_hierarchy)
        return date_hierarchy(view)


def _detail_rows(event: AuditEvent) -> list[tuple[str, str]]:
    rows = [
        ("Time", event.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")),
        ("Received", event.received_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")),
        ("Source", event.get_source_display()),
        ("Action", event.action),
        ("CRUD", event.get_crud_display() if event.crud else ""),
        ("Name", event.name),
        ("Title", event.title),
        ("Description", event.description),
        (
            "User",
            f"{event.actor_name} ({event.actor_type}{' ' + event.actor_id if event.actor_id else ''})",
        ),
        ("Target", f"{event.target_type} {event.target_id} {event.target_name}".strip()),
        (
            "Associated",
            f"{event.associated_type} {event.associated_id} {event.associated_name}".strip(),
        ),
        ("Project / environment", f"{event.project} / {event.environment}"),
        ("Group", f"{event.group_id} {event.group_name}".strip()),
        ("Retraced id", event.retraced_id),
        ("Receipt hash", event.receipt_hash),
        ("Version", "" if event.version is None else str(event.version)),
        ("Comment", event.comment),
        ("Remote address", event.remote_address or ""),
        ("Request UUID", event.request_uuid),
        ("Failure", "yes" if event.is_failure else "no"),
        ("Anonymous", "yes" if event.is_anonymous else "no"),
        ("Actor fields", event.actor_fields or ""),
        ("Target fields", event.target_fields or ""),
        ("Fields", event.fields or ""),
        ("Metadata", event.metadata or ""),
        ("External id", event.external_id),
        ("Component", f"{event.component} {event.component_version}".strip()),
        (
            "Chain",
            f"chain {event.chain}, seq {event.seq}, hash {event.hash}, previous {event.prev_hash}"
            if event.seq is not None
            else "pending link (stored and committed; the worker links it within about a second)",
        ),
    ]
    return [(label, visible_text(value)) for label, value in rows if value not in ("", None)]


def _shown(value) -> str:
    return visible_text(value if isinstance(value, str) else json.dumps(value))


def _change_rows(event: AuditEvent) -> list[tuple[str, str, str]]:
    """(field, old, new): [old, new] pairs on update; a bare value on create or destroy."""
    changes = event.audited_changes if isinstance(event.audited_changes, dict) else {}
    rows = []
    for name, value in sorted(changes.items()):
        if event.crud == Crud.UPDATE and isinstance(value, list) and len(value) == 2:
            old, new = _shown(value[0]), _shown(value[1])
        elif event.crud == Crud.DELETE:
            old, new = _shown(value), ""
        else:
            old, new = "", _shown(value)
        rows.append((visible_text(name), old, new))
    return rows


def _group_log_url_of_filter(params) -> str | None:
    """The list filtered to one Retraced group opens that group's log ("View as customer")."""
    group_ids = params.getlist("group_id") or params.getlist("group_id__exact")
    if len(group_ids) != 1 or not group_ids[0]:
        return None
    return group_log_url(
        project=params.get("project") or DEFAULT_PROJECT_ID,  # the project filter's parameter
        environment=params.get("environment") or DEFAULT_ENVIRONMENT_ID,
        group_id=group_ids[0],
    )


def _filter_links(event: AuditEvent) -> list[tuple[str, str]]:
    """Foreman's clickable filters: the same request, the same target, the same user."""
    changelist = reverse("admin:audits_auditevent_changelist")
    links = []
    if event.request_uuid:
        links.append(
            ("Same request", f"{changelist}?{urlencode({'request_uuid': event.request_uuid})}")
        )
    if event.target_type or event.target_id:
        query = urlencode({"target_type__exact": event.target_type, "target_id": event.target_id})
        links.append(("Same target", f"{changelist}?{query}"))
    if event.actor_name:
        links.append(
            ("Same user", f"{changelist}?{urlencode({'actor_name__exact': event.actor_name})}")
        )
    if event.group_id:
        query = urlencode(
            {"project": event.project, "environment": event.environment, "group_id": event.group_id}
        )
        links.append(("Same group", f"{changelist}?{query}"))
        links.append(
            (
                "View as customer",
                group_log_url(
                    project=event.project, environment=event.environment, group_id=event.group_id
                ),
            )
        )
    return links


# --- Retraced's tenancy: projects and environments ---------------------------------------


class TenancyIdImmutableMixin:
    """
    The id is in clients' paths and on every event: set once, at creation. Deletion is one
    object at a time, where `has_delete_permission` checks that nothing uses it; the bulk
    action would not ask.
    """

    id_field = "id"
    actions = None  # the only one would be the bulk delete

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, self.id_field] if obj is not None else readonly


@admin.register(Project)
class ProjectAdmin(TenancyIdImmutableMixin, admin.ModelAdmin):
    """
    Retraced's projects. One with events or API tokens cannot be deleted (the events would
    name a project that no longer exists, the tokens could no longer be used).
    """

    list_display = ["id", "name", "created_at"]
    search_fields = ["id", "name"]
    fields = ["id", "name", "created_at"]
    readonly_fields = ["created_at"]

    def has_delete_permission(self, request, obj=None):
        if obj is not None and _tenancy_in_use(project=obj.pk):
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Environment)
class EnvironmentAdmin(TenancyIdImmutableMixin, admin.ModelAdmin):
    """A project's environments; the project and slug are fixed once created."""

    id_field = "slug"
    list_display = ["project", "slug", "name", "created_at"]
    list_filter = ["project"]
    search_fields = ["slug", "name"]
    fields = ["project", "slug", "name", "created_at"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "project"] if obj is not None else readonly

    def has_delete_permission(self, request, obj=None):
        if obj is not None and _tenancy_in_use(project=obj.project_id, environment=obj.slug):
            return False
        return super().has_delete_permission(request, obj)


def _tenancy_in_use(*, project: str, environment: str | None = None) -> bool:
    """Whether any event or API token names this project (and environment): two EXISTS
    queries on the tenancy index's leading columns."""
    scope = (
        {"project": project}
        if environment is None
        else {
            "project": project,
            "environment": environment,
        }
    )
    return AuditEvent.objects.filter(**scope).exists() or ApiToken.objects.filter(**scope).exists()


# --- Retraced credentials -----------------------------------------------------------------
# The rows behind Retraced's viewer and Enterprise IT API, for operators to see (and to
# delete an enterprise token). Every form is read-only and names its fields explicitly, so
# no digest or sealed secret ever reaches a page: a token is shown by its public id only.


class RetracedCredentialAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Small tables, but still no unbounded COUNT(*) or facet counts on each page view."""

    list_filter = [ProjectFilter, EnvironmentFilter]
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50


@admin.register(RetracedEnterpriseToken)
class RetracedEnterpriseTokenAdmin(RetracedCredentialAdmin):
    """
    Made only by the publisher API or the logs viewer, so no add or edit here. Deleting (one
    or the bulk action) goes through `enterprise_token_console_delete`, which records it in
    the group's log as the viewer API's delete is.
    """

    allow_delete = True
    list_display = [
        "display_name",
        "project",
        "environment",
        "group_id",
        "view_log_action",
        "created_at",
    ]
    search_fields = ["display_name", "group_id"]
    fields = [
        "id",
        "display_name",
        "project",
        "environment",
        "group_id",
        "view_log_action",
        "created_at",
    ]
    readonly_fields = fields

    def delete_model(self, request, obj):
        enterprise_token_console_delete(token=obj, staff_username=request.user.get_username())

    def delete_queryset(self, request, queryset):
        for token in queryset:
            enterprise_token_console_delete(token=token, staff_username=request.user.get_username())


@admin.register(RetracedViewerDescriptor)
class RetracedViewerDescriptorAdmin(RetracedCredentialAdmin):
    """Viewer tokens awaiting exchange; the hourly purge removes them, nothing else does."""

    list_display = ["group_id", "actor_id", "project", "environment", "is_admin", "created_at"]
    search_fields = ["group_id", "actor_id"]
    fields = [
        "project",
        "environment",
        "group_id",
        "actor_id",
        "is_admin",
        "target_id",
        "view_log_action",
        "created_at",
    ]
    readonly_fields = fields


@admin.register(RetracedSavedExport)
class RetracedSavedExportAdmin(RetracedCredentialAdmin):
    """A viewer's saved CSV exports: the query descriptor it re-runs, as the widget saved it."""

    list_display = ["name", "project", "environment", "group_id", "version", "saved_at"]
    search_fields = ["name", "group_id"]
    fields = ["id", "name", "project", "environment", "group_id", "version", "saved_at", "body"]
    readonly_fields = fields
