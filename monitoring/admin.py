from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import csrf_protect_m
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from integration_site.admin_site import ReadOnlyAdminMixin
from monitoring import overview, selectors, services
from monitoring.engine import UnknownEvent, event_is_silenced, event_resolve
from monitoring.models import (
    AggregateMember,
    CheckDefinition,
    CheckResult,
    Client,
    Event,
    Handler,
    HandlerRun,
    Silence,
    Stash,
    epoch_now,
    severity_of,
)
from monitoring.overview import epoch_display
from monitoring.scheduler import ScheduleState, check_definition_document, check_schedule_state

CONSOLE_CSS = {"all": ["integration_site/console.css"]}


def severity_badge(status: int | None) -> str:
    severity = severity_of(status)
    return format_html('<span class="severity-{}">{}</span>', severity, severity.upper())


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("critical", "Critical"),
            ("warning", "Warning"),
            ("unknown", "Unknown"),
            ("ok", "OK"),
        ]

    def queryset(self, request, queryset):
        match self.value():
            case "critical":
                return queryset.filter(status=2)
            case "warning":
                return queryset.filter(status=1)
            case "ok":
                return queryset.filter(status=0)
            case "unknown":
                return queryset.exclude(status__in=[0, 1, 2])
        return queryset


class SilencedFilter(admin.SimpleListFilter):
    title = "silenced"
    parameter_name = "silenced"

    def lookups(self, request, model_admin):
        return [("yes", "Silenced"), ("no", "Not silenced")]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        # Computed live from the current silences, like the API's silenced flag.
        silences = selectors.silences_active()
        silenced = [
            e.pk for e in queryset.select_related("client") if event_is_silenced(e, silences)
        ]
        if self.value() == "yes":
            return queryset.filter(pk__in=silenced)
        return queryset.exclude(pk__in=silenced)


class CheckNameFilter(admin.SimpleListFilter):
    title = "check"
    parameter_name = "check"

    def lookups(self, request, model_admin):
        names = Event.objects.order_by("check_name").values_list("check_name", flat=True)
        return [(n, n) for n in names.distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(check_name=self.value()) if self.value() else queryset


class ClientNameFilter(admin.SimpleListFilter):
    title = "client"
    parameter_name = "client"

    def lookups(self, request, model_admin):
        # Only clients with open events: bounded by the events, not the whole fleet.
        names = Event.objects.order_by("client__name").values_list("client__name", flat=True)
        return [(n, n) for n in names.distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(client__name=self.value()) if self.value() else queryset


class SilenceEventsForm(forms.Form):
    DURATIONS = [
        ("900", "15 minutes"),
        ("3600", "1 hour"),
        ("86400", "1 day"),
        ("-1", "Until removed"),
    ]
    duration = forms.ChoiceField(choices=DURATIONS, initial="3600")
    expire_on_resolve = forms.BooleanField(
        required=False, initial=True, label="Also expire once the check resolves"
    )
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class SilenceClearForm(forms.Form):
    # A CharField refuses NUL characters, which PostgreSQL cannot compare (a 500 otherwise).
    silence = forms.CharField(max_length=Silence._meta.get_field("silence_id").max_length)


# --- Handler runs (monitoring/handling): who was told what, when -------------------------

EVENT_HANDLER_RUNS_SHOWN = 50
HANDLER_FILTER_CHOICES = 200


class HandlerNameFilter(admin.SimpleListFilter):
    """
    By handler, offered from the (small) Handler table rather than a DISTINCT over every run;
    `?handler=<name>` works for any name, a deleted handler's too.
    """

    title = "handler"
    parameter_name = "handler"

    def lookups(self, request, model_admin):
        names = Handler.objects.order_by("name").values_list("name", flat=True)
        return [(name, name) for name in names[:HANDLER_FILTER_CHOICES]]

    def queryset(self, request, queryset):
        return queryset.filter(handler=self.value()) if self.value() else queryset


class RunActionFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return Event.Action.choices

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(HandlerRun)
class HandlerRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """
    Every handler run, filtered ones included, as the dispatcher recorded it. `data` holds
    the event as handed on (its client redacted as /clients shows it), so nothing here needs
    masking; http headers are never copied into a run.
    """

    list_display = [
        "created_at",
        "handler",
        "handler_type",
        "state",
        "client_name",
        "check_name",
        "action",
        "severity",
        "attempts",
        "duration_ms",
        "reason",
    ]
    list_filter = ["state", "handler_type", HandlerNameFilter, RunActionFilter]
    search_fields = ["client_name", "check_name"]
    show_full_result_count = False
    fields = [
        "event_uuid",
        "client_name",
        "check_name",
        "action",
        "status",
        "occurrences",
        "handler",
        "handler_type",
        "state",
        "reason",
        "exit_status",
        "attempts",
        "next_attempt_at",
        "worker_id",
        "created_at",
        "started_at",
        "finished_at",
        "duration_ms",
        "data",
        "output",
    ]
    readonly_fields = fields

    class Media:
        css = CONSOLE_CSS

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and match.url_name == "monitoring_handlerrun_changelist":
            # A page of runs never shows their data or output (an event each, up to 64 KiB).
            queryset = queryset.defer("data", "output")
        return queryset

    @admin.display(description="Status", ordering="status")
    def severity(self, obj: HandlerRun) -> str:
        return severity_badge(obj.status)


class EventHandlerRunsMixin:
    """The event page's "Handler runs": its newest runs, bounded, and a link to them all."""

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "handler_runs"]

    @admin.display(description="Handler runs")
    def handler_runs(self, obj: Event) -> str:
        runs = list(
            HandlerRun.objects.filter(event_uuid=obj.uuid)
            .order_by("-id")
            .only("id", "created_at", "handler", "action", "state", "attempts", "reason")[
                : EVENT_HANDLER_RUNS_SHOWN + 1
            ]
        )
        if not runs:
            return "No handler has run for this event."
        listing = reverse("admin:monitoring_handlerrun_changelist") + f"?event_uuid={obj.uuid}"
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:monitoring_handlerrun_change", args=[run.pk]),
                    run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    run.handler,
                    run.action,
                    run.get_state_display(),
                    run.attempts,
                    run.reason,
                )
                for run in runs[:EVENT_HANDLER_RUNS_SHOWN]
            ),
        )
        more = (
            f"Newest {EVENT_HANDLER_RUNS_SHOWN} shown. "
            if len(runs) > EVENT_HANDLER_RUNS_SHOWN
            else ""
        )
        return format_html(
            '<table class="handler-runs"><thead><tr><th>When</th><th>Handler</th>'
            "<th>Action</th><th>State</th><th>Attempts</th><th>Reason</th></tr></thead>"
            '<tbody>{}</tbody></table><p>{}<a href="{}">All runs for this event</a></p>',
            rows,
            more,
            listing,
        )


# --- end of handler runs ---------------------------------------------------------------------


@admin.register(Event)
class EventAdmin(EventHandlerRunsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # Events leave through the engine (the Resolve action), never a bare delete.
    list_display = [
        "severity",
        "client_name",
        "check_name",
        "output_summary",
        "occurrences",
        "last_ok_display",
        "silenced_display",
        "action",
    ]
    list_display_links = ["check_name"]
    list_filter = [StatusFilter, SilencedFilter, CheckNameFilter, ClientNameFilter]
    search_fields = ["client__name", "check_name", "output"]
    list_select_related = ["client"]
    actions = ["resolve_events", "silence_events"]
    readonly_fields = [
        "uuid",
        "client",
        "check_name",
        "status",
        "output",
        "action",
        "occurrences",
        "occurrences_watermark",
        "last_ok",
        "last_state_change",
        "timestamp",
        "check_data",
    ]

    class Media:
        css = CONSOLE_CSS

    def has_resolve_permission(self, request) -> bool:
        # Resolving and silencing change monitoring state: the delete permission gates them.
        return request.user.has_perm("monitoring.delete_event")

    def changelist_view(self, request, extra_context=None):
        self._silences = selectors.silences_active()
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        return [
            path(
                "overview/",
                self.admin_site.admin_view(self.overview_view),
                name="monitoring_event_overview",
            ),
            path(
                "overview/refresh/",
                self.admin_site.admin_view(self.overview_refresh_view),
                name="monitoring_event_overview_refresh",
            ),
            path(
                "overview/act/",
                self.admin_site.admin_view(require_POST(self.overview_act_view)),
                name="monitoring_event_overview_act",
            ),
            path(
                "overview/silences/clear/",
                self.admin_site.admin_view(require_POST(self.overview_silence_clear_view)),
                name="monitoring_event_overview_silence_clear",
            ),
            *super().get_urls(),
        ]

    def overview_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **self._overview_context(request),
            "title": "Monitoring overview",
            "opts": self.model._meta,
            "silence_form": SilenceEventsForm(),
            "refresh_seconds": overview.REFRESH_SECONDS,
        }
        return TemplateResponse(request, "admin/monitoring/event/overview.html", context)

    def overview_refresh_view(self, request):
        """The overview's regions re-rendered, with the counts, for the page's poll."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = self._overview_context(request)
        regions = {
            name: render_to_string(
                f"admin/monitoring/event/overview/{name}.html", context, request=request
            )
            for name in ("counts", "clients", "events", "silences")
        }
        return JsonResponse(
            {
                "refreshed_at": context["now"].isoformat(),
                "events": {"shown": len(context["events"]), **context["event_counts"]},
                "clients": {"shown": len(context["clients"]), **context["client_counts"]},
                "silences": {"shown": len(context["silences"]), "total": context["silence_total"]},
                "html": regions,
            }
        )

    def _overview_context(self, request) -> dict:
        text = request.GET.get("q", "")[: overview.FILTER_MAX_LENGTH]
        status = request.GET.get("status", "")
        status = status if status in selectors.OVERVIEW_STATUSES else ""
        return {
            **overview.overview_read(
                text=text,
                status=status,
                link_clients=request.user.has_perm("monitoring.view_client"),
            ),
            "filter_text": text,
            "filter_status": status,
            "statuses": selectors.OVERVIEW_STATUSES,
            "can_act": self.has_resolve_permission(request),
            "can_clear": request.user.has_perm("monitoring.delete_silence"),
        }

    def overview_act_view(self, request):
        """
        Resolve or silence the posted events (`event` ids), through the same engine and
        service calls as the changelist's actions. Answers JSON to the page's script, or
        redirects back to the overview with a message for a plain form post.
        """
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        # Event ids as the page posts them: ASCII digits that fit a bigint. Anything else
        # (a Unicode digit such as "²", which isdigit() admits and int() refuses, or a number
        # past the column's range, which the database refuses) names no event.
        ids = [
            int(v)
            for v in request.POST.getlist("event")
            if v.isascii() and v.isdigit() and len(v) <= 18
        ]
        events = list(
            Event.objects.filter(pk__in=ids[: overview.ACT_LIMIT]).select_related("client")
        )
        action = request.POST.get("action")
        if action == "resolve":
            message = f"Resolved {self._events_resolve(events)} event(s)."
        elif action == "silence":
            form = SilenceEventsForm(request.POST)
            if not form.is_valid():
                return self._overview_answer(
                    request,
                    "The silence needs a duration and a reason.",
                    ok=False,
                    errors=form.errors.get_json_data(),
                )
            message = f"Silenced {self._events_silence(request, events, form)} event(s)."
        else:
            return self._overview_answer(request, "Unknown action.", ok=False)
        if not events:
            message = "No event selected (or they were resolved meanwhile)."
        return self._overview_answer(request, message)

    def overview_silence_clear_view(self, request):
        """Clear one silence entry (audited, as every removal), from the overview's list."""
        if not request.user.has_perm("monitoring.delete_silence"):
            raise PermissionDenied
        form = SilenceClearForm(request.POST)
        if not form.is_valid():
            return self._overview_answer(
                request, "Name one silence to clear.", ok=False, errors=form.errors.get_json_data()
            )
        silence_id = form.cleaned_data["silence"]
        cleared = services.silence_clear(silences=Silence.objects.filter(silence_id=silence_id))
        if not cleared:
            return self._overview_answer(request, f"No silence {silence_id}.", ok=False)
        return self._overview_answer(request, f"Cleared silence {silence_id}.")

    def _overview_answer(self, request, message: str, *, ok: bool = True, errors=None):
        if "application/json" in request.headers.get("Accept", ""):
            body = {"ok": ok, "message": message}
            if errors:
                body["errors"] = errors
            return JsonResponse(body, status=200 if ok else 400)
        self.message_user(request, message, messages.SUCCESS if ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:monitoring_event_overview"))

    def _events_resolve(self, events: list[Event]) -> int:
        resolved = 0
        for event in events:
            try:
                event_resolve(client_name=event.client.name, check_name=event.check_name)
                resolved += 1
            except UnknownEvent:
                pass  # Resolved meanwhile.
        return resolved

    def _events_silence(self, request, events: list[Event], form: SilenceEventsForm) -> int:
        """One `client:<client>:<check>` entry per event, as Uchiwa's per-event silence."""
        duration = int(form.cleaned_data["duration"])
        for event in events:
            services.silence_create(
                subscription=f"client:{event.client.name}",
                check=event.check_name,
                reason=form.cleaned_data["reason"],
                creator=request.user.get_username(),
                expire=duration if duration >= 0 else None,
                expire_on_resolve=form.cleaned_data["expire_on_resolve"],
            )
        return len(events)

    @admin.display(description="Status", ordering="status")
    def severity(self, obj: Event) -> str:
        return severity_badge(obj.status)

    @admin.display(description="Client", ordering="client__name")
    def client_name(self, obj: Event) -> str:
        return obj.client.name

    @admin.display(description="Output")
    def output_summary(self, obj: Event) -> str:
        output = obj.output.strip()
        text = output if len(output) <= 120 else output[:117] + "..."
        return format_html('<span class="severity-{}">{}</span>', obj.severity, text)

    @admin.display(description="Last OK", ordering="last_ok")
    def last_ok_display(self, obj: Event) -> str:
        return epoch_display(obj.last_ok)

    @admin.display(description="Silenced", boolean=True)
    def silenced_display(self, obj: Event) -> bool:
        silences = getattr(self, "_silences", None)
        if silences is None:
            silences = selectors.silences_active()
        return event_is_silenced(obj, silences)

    @admin.action(description="Resolve selected events", permissions=["resolve"])
    def resolve_events(self, request, queryset):
        resolved = self._events_resolve(list(queryset.select_related("client")))
        self.message_user(request, f"Resolved {resolved} event(s).", messages.SUCCESS)

    @admin.action(description="Silence selected events…", permissions=["resolve"])
    def silence_events(self, request, queryset):
        events = list(queryset.select_related("client"))
        form = SilenceEventsForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            silenced = self._events_silence(request, events, form)
            self.message_user(request, f"Silenced {silenced} event(s).", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Silence events",
            "opts": self.model._meta,
            "events": events,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/monitoring/event/silence_selected.html", context)


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "worst_status", "address", "type", "keepalive_age", "subscription_list"]
    list_filter = ["type", "keepalives"]
    search_fields = ["name", "address"]
    fields = ["name", "address", "subscriptions", "type", "keepalives", "keepalive", "attributes"]
    # The client's page (Uchiwa's client view): keepalive age, and each check's last result
    # with its history of 21 statuses.
    readonly_fields = ["keepalive_age", "check_results"]

    class Media:
        css = {"all": [*CONSOLE_CSS["all"], "monitoring/overview.css"]}

    def get_queryset(self, request):
        return selectors.clients_with_worst_status()

    def get_fieldsets(self, request, obj=None):
        # The client's state first, as Uchiwa's client view shows it; its settings below.
        if obj is None:
            return [(None, {"fields": self.fields})]
        return [
            ("Status", {"fields": ["keepalive_age", "check_results"]}),
            ("Client", {"fields": self.fields}),
        ]

    @admin.display(description="Checks")
    def check_results(self, obj: Client) -> str:
        return render_to_string(
            "admin/monitoring/client/check_results.html",
            {
                **overview.client_checks_read(obj),
                "results_url": reverse("admin:monitoring_checkresult_changelist")
                + f"?{urlencode({'q': obj.name})}",
            },
        )

    @csrf_protect_m
    def delete_view(self, request, object_id, extra_context=None):
        # Django runs a confirmed delete in one transaction; client_delete must not be inside
        # one: it resolves the events through the engine, a transaction each, then takes its
        # locks in the engine's order. Held in one transaction, the first resolve's audit
        # chain lock would be kept while the next resolve waits for a result row that a
        # concurrent engine run holds while waiting for that chain lock: a deadlock.
        return self._delete_view(request, object_id, extra_context)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The events are resolved through the engine, not deleted by hand (EventAdmin refuses
        # that): what it takes is the permission EventAdmin's Resolve action asks for.
        if self.admin_site.get_model_admin(Event).has_resolve_permission(request):
            perms_needed.discard(Event._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        # Resolve the events through the engine (audited) rather than cascade them away.
        services.client_delete(client=obj)

    def delete_queryset(self, request, queryset):
        for client in list(queryset):
            services.client_delete(client=client)

    @admin.display(description="Worst status", ordering="worst_rank")
    def worst_status(self, obj: Client) -> str:
        return severity_badge(selectors.WORST_RANK_STATUS[obj.worst_rank or 0])

    @admin.display(description="Keepalive age")
    def keepalive_age(self, obj: Client) -> str:
        if not obj.keepalives:
            return "—"
        return f"{epoch_now() - obj.timestamp} s"

    @admin.display(description="Subscriptions")
    def subscription_list(self, obj: Client) -> str:
        return ", ".join(obj.subscriptions or [])


@admin.register(CheckDefinition)
class CheckDefinitionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "command",
        "interval",
        "type",
        "ttl",
        "auto_resolve",
        "standalone",
        "scheduling",
    ]
    list_filter = ["type", "auto_resolve", "standalone"]
    search_fields = ["name", "command"]

    @admin.display(description="scheduling")
    def scheduling(self, obj: CheckDefinition) -> str:
        """Whether the site requests this check of its agents, and if not, why."""
        state = check_schedule_state(check_definition_document(obj))
        if state == ScheduleState.SCHEDULED:
            return f"scheduled every {obj.interval} s"
        return state


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    allow_delete = True
    list_display = [
        "client",
        "check_name",
        "severity",
        "output_summary",
        "executed_display",
        "last_ok_display",
    ]
    list_filter = [StatusFilter, "check_name"]
    search_fields = ["client__name", "check_name", "output"]
    list_select_related = ["client"]
    readonly_fields = [
        "client",
        "check_name",
        "status",
        "output",
        "executed",
        "last_ok",
        "ttl",
        "history",
        "check_data",
    ]

    class Media:
        css = CONSOLE_CSS

    @admin.display(description="Status", ordering="status")
    def severity(self, obj: CheckResult) -> str:
        return severity_badge(obj.status)

    @admin.display(description="Output")
    def output_summary(self, obj: CheckResult) -> str:
        return obj.output if len(obj.output) <= 120 else obj.output[:117] + "..."

    @admin.display(description="Executed", ordering="executed")
    def executed_display(self, obj: CheckResult) -> str:
        return epoch_display(obj.executed)

    @admin.display(description="Last OK", ordering="last_ok")
    def last_ok_display(self, obj: CheckResult) -> str:
        return epoch_display(obj.last_ok)


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ["silence_id", "reason", "creator", "begin", "expires_at", "expire_on_resolve"]
    list_filter = ["expire_on_resolve"]
    search_fields = ["silence_id", "reason", "creator"]
    fields = [
        "subscription",
        "check_name",
        "reason",
        "creator",
        "begin",
        "expires_at",
        "expire_on_resolve",
    ]

    def save_model(self, request, obj, form, change):
        if not obj.creator:
            obj.creator = request.user.get_username()
        super().save_model(request, obj, form, change)


@admin.register(Stash)
class StashAdmin(admin.ModelAdmin):
    list_display = ["path", "expires_at", "created_at"]
    search_fields = ["path"]


@admin.register(AggregateMember)
class AggregateMemberAdmin(admin.ModelAdmin):
    list_display = ["name", "client", "check_name"]
    list_filter = ["name"]
    search_fields = ["name", "client__name", "check_name"]
    list_select_related = ["client"]


from monitoring import admin_definitions  # noqa: E402, F401 (registers the definitions admins)
