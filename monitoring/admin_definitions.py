"""
The admin of Sensu's handler, filter and mutator definitions. Each form checks what it is
given exactly as `manage.py sensu_import` checks a conf.d file (monitoring/definitions.py):
the instance the form would save is turned into its Sensu JSON form and validated, and each
problem is shown on the field it names. Saving goes through the audited models.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, IntegerField, JSONField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from monitoring.definitions import (
    SEVERITY_NAMES,
    DefinitionInvalid,
    filter_validate,
    handler_validate,
    mutator_validate,
)
from monitoring.models import Filter, Handler, HandlerRun, HandlerRunState, HandlerType, Mutator
from monitoring.redaction import REDACTED

CONSOLE_CSS = {"all": ["integration_site/console.css"]}
RUN_COUNT_WINDOW = timedelta(hours=24)
FAILED_STATES = (HandlerRunState.FAILED, HandlerRunState.TIMED_OUT)


class NamesField(forms.CharField):
    """A list of names typed as "a, b, c"."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        return [name.strip() for name in text.split(",") if name.strip()]


class DefinitionForm(forms.ModelForm):
    """
    Validates the definition the form would save through monitoring/definitions.py. A
    problem's field is a path in the JSON form ("socket.port"); `problem_fields` maps the
    paths whose form field has another name, other paths go to the field named by their
    first part, or to the form as a whole.
    """

    problem_fields: dict[str, str] = {}
    # definitions.handler_validate, filter_validate or mutator_validate.
    definition_validate: Callable[[str, Any], None]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned  # The fields' own errors first: the definition is incomplete.
        for field in self._meta.model._meta.concrete_fields:
            # An emptied JSON box means the column's default ({} or []), not JSON null.
            if (
                isinstance(field, JSONField)
                and field.name in cleaned
                and cleaned[field.name] is None
            ):
                cleaned[field.name] = field.get_default()
        candidate = self._meta.model(
            **{k: v for k, v in cleaned.items() if k in self._model_fields()}
        )
        try:
            type(self).definition_validate(cleaned["name"], candidate.as_sensu())
        except DefinitionInvalid as exc:
            for problem in exc.problems:
                field = self.problem_fields.get(problem.field, problem.field.split(".")[0])
                message = f"{problem.field}: {problem.message}"
                self.add_error(field if field in self.fields else None, message)
        return cleaned

    def _model_fields(self) -> set[str]:
        return {f.name for f in self._meta.model._meta.concrete_fields}


class HandlerForm(DefinitionForm):
    severities = forms.MultipleChoiceField(
        choices=[(s, s) for s in SEVERITY_NAMES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: warning, critical and unknown events, and resolves (as Sensu).",
    )
    filters = NamesField(required=False, help_text="Filter names, comma-separated.")
    handlers = NamesField(
        required=False, help_text="Set handlers only: member handler names, comma-separated."
    )
    http_headers = forms.JSONField(
        required=False,
        help_text=(
            f'Header values are never shown: "{REDACTED}" keeps the stored value; type a new '
            "value to replace it, remove the key to drop the header."
        ),
    )

    problem_fields = {
        "socket": "socket_host",
        "socket.host": "socket_host",
        "socket.port": "socket_port",
        "http": "http_url",
        "http.url": "http_url",
        "http.headers": "http_headers",
        "http.retries": "http_retries",
    }

    class Meta:
        model = Handler
        fields = [
            "name",
            "type",
            "command",
            "shell",
            "socket_host",
            "socket_port",
            "pipe",
            "handlers",
            "http_url",
            "http_headers",
            "http_retries",
            "severities",
            "filters",
            "mutator",
            "handle_flapping",
            "handle_silenced",
            "timeout",
            "attributes",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stored_headers = dict(self.instance.http_headers or {}) if self.instance.pk else {}
        self.initial["http_headers"] = dict.fromkeys(self.stored_headers, REDACTED)

    def clean_http_headers(self) -> dict[str, Any]:
        headers = self.cleaned_data.get("http_headers") or {}
        if not isinstance(headers, dict):
            raise forms.ValidationError("Must be an object of header names to values.")
        merged = {}
        for key, value in headers.items():
            if value == REDACTED:
                if key not in self.stored_headers:
                    raise forms.ValidationError(f"Header {key!r} is new: give it a value.")
                value = self.stored_headers[key]
            merged[key] = value
        return merged

    def clean(self):
        cleaned = super().clean()
        # A set has no command; types whose columns are not shown back are cleared so a
        # type change leaves nothing stale behind.
        if not self.errors and cleaned.get("type") != HandlerType.SET:
            cleaned["handlers"] = []
        return cleaned

    definition_validate = staticmethod(handler_validate)


class FilterForm(DefinitionForm):
    class Meta:
        model = Filter
        fields = ["name", "attributes", "negate", "when"]
        help_texts = {
            "attributes": (
                'The event attributes to match, e.g. {"check": {"status": 2}}. A value '
                '"eval: value > 2" is an expression (comparisons, and/or, numbers, strings).'
            ),
            "when": 'Time windows, e.g. {"days": {"all": [{"begin": "9:00 AM", "end": "5:00 PM"}]}}.',
        }

    definition_validate = staticmethod(filter_validate)


class MutatorForm(DefinitionForm):
    class Meta:
        model = Mutator
        fields = ["name", "command", "shell", "timeout"]

    definition_validate = staticmethod(mutator_validate)


def handler_runs_url(name: str) -> str | None:
    """The HandlerRun changelist for `name`, None where that admin is not installed."""
    try:
        changelist = reverse("admin:monitoring_handlerrun_changelist")
    except NoReverseMatch:
        return None
    return f"{changelist}?{urlencode({'handler': name})}"


@admin.register(Handler)
class HandlerAdmin(admin.ModelAdmin):
    form = HandlerForm
    list_display = ["name", "type", "target", "severity_list", "runs_24h", "failed_24h"]
    list_filter = ["type"]
    search_fields = ["name", "command", "http_url"]
    fieldsets = [
        (None, {"fields": ["name", "type"]}),
        (
            "Pipe",
            {
                "fields": ["command", "shell"],
                "description": "Type pipe: the command gets the event JSON on stdin.",
            },
        ),
        ("TCP and UDP", {"fields": ["socket_host", "socket_port"]}),
        (
            "Transport",
            {
                "fields": ["pipe"],
                "description": (
                    'Type transport: {"type": "direct|fanout|topic", "name": ..., "options": {}}.'
                ),
            },
        ),
        ("Set", {"fields": ["handlers"]}),
        ("HTTP webhook", {"fields": ["http_url", "http_headers", "http_retries"]}),
        (
            "Selection and filtering",
            {
                "fields": [
                    "severities",
                    "filters",
                    "mutator",
                    "handle_flapping",
                    "handle_silenced",
                    "timeout",
                ]
            },
        ),
        ("Other Sensu attributes", {"fields": ["attributes"], "classes": ["collapse"]}),
    ]

    class Media:
        css = CONSOLE_CSS

    def get_queryset(self, request):
        # Both counts in the changelist's one query, from the (handler, created_at) index.
        runs = (
            HandlerRun.objects.filter(
                handler=OuterRef("name"), created_at__gte=timezone.now() - RUN_COUNT_WINDOW
            )
            .exclude(state=HandlerRunState.FILTERED)
            .order_by()
            .values("handler")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                runs_recent=Coalesce(
                    Subquery(runs.annotate(n=Count("id")).values("n"), output_field=IntegerField()),
                    Value(0),
                ),
                failed_recent=Coalesce(
                    Subquery(
                        runs.annotate(n=Count("id", filter=Q(state__in=FAILED_STATES))).values("n"),
                        output_field=IntegerField(),
                    ),
                    Value(0),
                ),
            )
        )

    @admin.display(description="Target")
    def target(self, obj: Handler) -> str:
        match obj.type:
            case HandlerType.PIPE:
                return obj.command
            case HandlerType.TCP | HandlerType.UDP:
                return f"{obj.type}://{obj.socket_host}:{obj.socket_port}"
            case HandlerType.TRANSPORT:
                return f"{obj.pipe.get('type', '?')}:{obj.pipe.get('name', '?')}"
            case HandlerType.SET:
                return ", ".join(obj.handlers)
            case HandlerType.HTTP:
                return obj.http_url
        return ""

    @admin.display(description="Severities")
    def severity_list(self, obj: Handler) -> str:
        return ", ".join(obj.severities) or "default"

    @admin.display(description="runs (24 h)", ordering="runs_recent")
    def runs_24h(self, obj: Handler) -> str:
        url = handler_runs_url(obj.name)
        if url is None:
            return str(obj.runs_recent)
        return format_html('<a href="{}">{}</a>', url, obj.runs_recent)

    @admin.display(description="failed (24 h)", ordering="failed_recent")
    def failed_24h(self, obj: Handler) -> str:
        if not obj.failed_recent:
            return "0"
        return format_html('<span class="severity-critical">{}</span>', obj.failed_recent)


@admin.register(Filter)
class FilterAdmin(admin.ModelAdmin):
    form = FilterForm
    list_display = ["name", "negate", "attributes"]
    search_fields = ["name"]
    fields = ["name", "attributes", "negate", "when"]


@admin.register(Mutator)
class MutatorAdmin(admin.ModelAdmin):
    form = MutatorForm
    list_display = ["name", "command", "shell", "timeout"]
    search_fields = ["name", "command"]
    fields = ["name", "command", "shell", "timeout"]
