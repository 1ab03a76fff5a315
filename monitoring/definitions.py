"""
Sensu 1.x definitions (`checks`, `handlers`, `filters` and `mutators` settings) in their JSON
form: validation as sensu-settings' validators check them (lib/sensu/settings/validators/
check.rb, handler.rb, filter.rb, mutator.rb, time_window.rb), and conversion between that
form and the models. The admin's forms and `manage.py sensu_import` both go through here, so
a definition the admin accepts is one the import accepts, and the reverse.

The JSON form of the one handler type Sensu 1.x lacks, `http`, follows its `socket` and
`pipe` objects: `"http": {"url": ..., "headers": {...}, "retries": 3}`. `shell: true` on a
pipe handler or mutator is ours too: Sensu always ran commands through a shell.
"""

import copy
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from monitoring.handling.filters import clock_parse
from monitoring.models import CheckDefinition, Filter, Handler, HandlerType, Mutator

# The conf.d categories this site holds, with the word each uses for one definition.
CATEGORIES = {"checks": "check", "handlers": "handler", "filters": "filter", "mutators": "mutator"}
# Filters and mutators the handling code provides when no definition of that name exists
# (Sensu's built-in extensions). A definition of the same name takes their place, as a
# settings definition does in Sensu (filter.rb event_filter looks at settings first).
BUILT_IN_NAMES = {
    "filter": frozenset({"occurrences", "check_dependencies"}),
    "mutator": frozenset({"json", "only_check_output"}),
}

SEVERITY_NAMES = ("ok", "warning", "critical", "unknown")
NAME_MAX_LENGTH = 255
# Bounds of the model columns the numbers go to; Sensu itself only asks for integers.
INTEGER_MAX = 2**31 - 1
EXIT_STATUS_MAX = 255
FLAP_THRESHOLD_MAX = 100
PORT_MAX = 65535
HTTP_RETRIES_MAX = 10
URL_MAX_LENGTH = 2048

# Ruby's \w is ASCII unless asked otherwise: re.ASCII keeps Sensu's meaning.
CHECK_NAME_PATTERN = re.compile(r"[\w.-]+", re.ASCII)
CHECK_SOURCE_PATTERN = re.compile(r"[\w.-]*([:]{3}[\w|.-]+[:]{3}[\w.-]*|[\w.-]+)", re.ASCII)
AGGREGATE_NAME_PATTERN = re.compile(r"[\w.:|-]+", re.ASCII)
CRON_FIELD_PATTERN = re.compile(r"[\w*/,?#LW-]+", re.ASCII)
TIME_WINDOW_DAYS = (
    "all",
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition: the field (a dotted path in the JSON form) and why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class DefinitionInvalid(ValueError):
    def __init__(self, kind: str, name: str, problems: list[Problem]) -> None:
        self.kind = kind
        self.name = name
        self.problems = problems
        super().__init__(f"{kind} {name!r} is invalid: " + "; ".join(str(p) for p in problems))


# --- JSON types as Ruby sees them (rules.rb) ---------------------------------------------


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _truthy(value: Any) -> bool:
    """Ruby's truth: only nil and false are false (0 and "" are true)."""
    return value is not None and value is not False


def _strings(value: Any, pattern: re.Pattern | None = None) -> bool:
    """rules.rb items_must_be_strings: every item a non-empty string (matching `pattern`)."""
    return all(
        isinstance(item, str) and item != "" and (pattern is None or pattern.fullmatch(item))
        for item in value
    )


class _Problems:
    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, field: str, message: str) -> None:
        self.found.append(Problem(field, message))

    def string(self, data: dict, key: str, *, required: bool = False) -> None:
        value = data.get(key)
        if value is None and not required:
            return
        if not isinstance(value, str):
            self.add(key, "must be a string")

    def boolean(self, data: dict, key: str) -> None:
        if data.get(key) is not None and not isinstance(data[key], bool):
            self.add(key, "must be true or false")

    def strings_array(self, data: dict, key: str, *, required: bool = False) -> None:
        value = data.get(key)
        if value is None and not required:
            return
        if not isinstance(value, list):
            self.add(key, "must be an array")
        elif not _strings(value):
            self.add(key, "must each be a non-empty string")

    def timeout(self, data: dict, key: str = "timeout") -> None:
        value = data.get(key)
        if value is None:
            return
        if not _is_numeric(value):
            self.add(key, "must be numeric")
        elif not 0 < value <= INTEGER_MAX:
            self.add(key, "must be greater than 0")

    def integer(self, data: dict, key: str, low: int, high: int, *, required=False) -> None:
        value = data.get(key)
        if value is None and not required:
            return
        if not _is_integer(value) or not low <= value <= high:
            self.add(key, f"must be an integer from {low} to {high}")

    def time_windows(self, data: dict, key: str) -> None:
        """time_window.rb validate_time_windows: {days: {day: [{begin, end}, ...]}}."""
        windows = data.get(key)
        if not isinstance(windows, dict):
            self.add(key, "must be an object")
            return
        days = windows.get("days")
        if not isinstance(days, dict):
            self.add(f"{key}.days", "must be an object")
            return
        if not days:
            self.add(f"{key}.days", "must include at least one day of the week or 'all'")
            return
        for day, conditions in days.items():
            path = f"{key}.days.{day}"
            if day not in TIME_WINDOW_DAYS:
                self.add(path, "must be a day of the week or 'all'")
            elif not isinstance(conditions, list):
                self.add(path, "must be an array")
            elif not conditions:
                self.add(path, "must include at least one time window")
            else:
                for condition in conditions:
                    if not isinstance(condition, dict):
                        self.add(path, "each time window must be an object")
                    elif (
                        clock_parse(condition.get("begin")) is None
                        or clock_parse(condition.get("end")) is None
                    ):
                        self.add(path, "time window begin and end must be times such as '9:00 AM'")

    def raise_if_any(self, kind: str, name: str) -> None:
        if self.found:
            raise DefinitionInvalid(kind, name, self.found)


def _name_check(problems: _Problems, name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        problems.add("name", "must be a non-empty string")
    elif len(name) > NAME_MAX_LENGTH:
        problems.add("name", f"must be at most {NAME_MAX_LENGTH} characters")


def _expression_problem(expression: str) -> str | None:
    """
    Why the handling code's expression language refuses `expression`, None if it accepts it.
    Sensu's `eval:` ran Ruby; this site compiles a small safe language instead (monitoring/
    handling/expressions.py). Until that package is present, expressions are accepted as
    written and checked when a filter runs.
    """
    try:
        from monitoring.handling.expressions import ExpressionError, expression_compile
    except ImportError:
        return None
    try:
        expression_compile(expression)
    except ExpressionError as exc:
        return str(exc)
    return None


EVAL_PREFIX = "eval:"


def _eval_attributes_check(problems: _Problems, value: Any, path: str) -> None:
    """Every `eval:` value of a filter's attributes, at any depth, must compile."""
    if isinstance(value, dict):
        for key, item in value.items():
            _eval_attributes_check(problems, item, f"{path}.{key}")
    elif isinstance(value, str) and value.startswith(EVAL_PREFIX):
        # utilities.rb process_eval_string: the expression is what follows "eval:".
        problem = _expression_problem(value[len(EVAL_PREFIX) :].strip())
        if problem:
            problems.add(path, f"eval expression is invalid: {problem}")


# --- Validation, one function per kind ----------------------------------------------------


def check_validate(name: str, data: Any) -> None:
    """sensu-settings validators/check.rb validate_check, plus the bounds of our columns."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise DefinitionInvalid("check", name, [Problem("definition", "must be an object")])
    if not isinstance(name, str):
        problems.add("name", "must be a string")
    elif not CHECK_NAME_PATTERN.fullmatch(name):
        problems.add("name", "cannot contain spaces or special characters")
    elif len(name) > NAME_MAX_LENGTH:
        problems.add("name", f"must be at most {NAME_MAX_LENGTH} characters")
    # validate_check_execution
    problems.string(data, "command")
    problems.string(data, "extension")
    if (data.get("command") is None) == (data.get("extension") is None):
        problems.add("command", "either check command or extension must be set")
    problems.timeout(data)
    problems.boolean(data, "stdin")
    # validate_check_source
    if _truthy(data.get("source")):
        source = data["source"]
        if not isinstance(source, str):
            problems.add("source", "must be a string")
        elif not CHECK_SOURCE_PATTERN.fullmatch(source):
            problems.add("source", "cannot contain spaces, special characters, or invalid tokens")
    # validate_check_scheduling
    problems.boolean(data, "publish")
    if data.get("publish") is not False:
        if _truthy(data.get("cron")):
            cron = data["cron"]
            if not isinstance(cron, str):
                problems.add("cron", "must be a string")
            elif not _cron_shaped(cron):
                problems.add("cron", "must use the cron syntax")
        else:
            problems.integer(data, "interval", 1, INTEGER_MAX, required=True)
    else:
        problems.integer(data, "interval", 1, INTEGER_MAX)
    problems.boolean(data, "standalone")
    if not _truthy(data.get("standalone")):
        if not isinstance(data.get("subscribers"), list):
            problems.add("subscribers", "must be an array")
        elif not _strings(data["subscribers"]):
            problems.add("subscribers", "must each be a non-empty string")
    # validate_check_proxy_requests
    if _truthy(data.get("proxy_requests")):
        proxy = data["proxy_requests"]
        if not isinstance(proxy, dict):
            problems.add("proxy_requests", "must be an object")
        else:
            if not isinstance(proxy.get("client_attributes"), dict):
                problems.add("proxy_requests.client_attributes", "must be an object")
            if proxy.get("splay") is not None and not isinstance(proxy["splay"], bool):
                problems.add("proxy_requests.splay", "must be true or false")
            coverage = proxy.get("splay_coverage")
            if _truthy(coverage) and not (_is_integer(coverage) and 0 < coverage < 100):
                problems.add(
                    "proxy_requests.splay_coverage",
                    "must be an integer greater than 0 and less than 100",
                )
    # validate_check_handling
    problems.string(data, "handler")
    problems.strings_array(data, "handlers")
    # validate_check_ttl
    if _truthy(data.get("ttl")):
        problems.integer(data, "ttl", 1, INTEGER_MAX)
    problems.integer(data, "ttl_status", 0, EXIT_STATUS_MAX)
    # validate_check_aggregate
    if _truthy(data.get("aggregates")):
        if not isinstance(data["aggregates"], list):
            problems.add("aggregates", "must be an array")
        elif not _strings(data["aggregates"], AGGREGATE_NAME_PATTERN):
            problems.add("aggregates", "items must be strings without spaces or special characters")
    if _truthy(data.get("aggregate")):
        aggregate = data["aggregate"]
        if isinstance(aggregate, str):
            if not AGGREGATE_NAME_PATTERN.fullmatch(aggregate):
                problems.add("aggregate", "cannot contain spaces or special characters")
        elif not isinstance(aggregate, bool):
            problems.add("aggregate", "must be a string (name) or boolean")
    # validate_check_flap_detection
    if data.get("low_flap_threshold") is not None or data.get("high_flap_threshold") is not None:
        problems.integer(data, "low_flap_threshold", 0, FLAP_THRESHOLD_MAX, required=True)
        problems.integer(data, "high_flap_threshold", 0, FLAP_THRESHOLD_MAX, required=True)
    # validate_check_hooks
    if _truthy(data.get("hooks")):
        _hooks_check(problems, data["hooks"])
    # validate_check_truncate_output
    problems.boolean(data, "truncate_output")
    if _truthy(data.get("truncate_output_length")):
        problems.integer(data, "truncate_output_length", 1, INTEGER_MAX)
    if _truthy(data.get("subdue")):
        problems.time_windows(data, "subdue")
    # Beyond Sensu, for our columns: Sensu treats any type but "metric" as standard.
    if data.get("type") is not None and data["type"] not in CheckDefinition.Type.values:
        problems.add("type", 'must be "standard" or "metric"')
    problems.boolean(data, "auto_resolve")
    problems.raise_if_any("check", str(name))


def _cron_shaped(cron: str) -> bool:
    """Five or six cron fields (or an @nickname); parse-cron's full grammar is not checked."""
    if cron.startswith("@"):
        return cron[1:] in {"yearly", "annually", "monthly", "weekly", "daily", "hourly"}
    fields = cron.split()
    return len(fields) in (5, 6) and all(CRON_FIELD_PATTERN.fullmatch(f) for f in fields)


def _hooks_check(problems: _Problems, hooks: Any) -> None:
    if not isinstance(hooks, dict):
        problems.add("hooks", "must be an object")
        return
    keys = {*SEVERITY_NAMES, "non-zero", *(str(status) for status in range(256))}
    for key, hook in hooks.items():
        path = f"hooks.{key}"
        if key not in keys:
            problems.add(path, "hook key must be a severity, status, or 'non-zero'")
        if not isinstance(hook, dict):
            problems.add(path, "must be an object")
            continue
        if not isinstance(hook.get("command"), str):
            problems.add(f"{path}.command", "must be a string")
        problems.timeout(hook)
        if hook.get("stdin") is not None and not isinstance(hook["stdin"], bool):
            problems.add(f"{path}.stdin", "must be true or false")


def handler_validate(name: str, data: Any) -> None:
    """sensu-settings validators/handler.rb validate_handler, plus our `http` type."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise DefinitionInvalid("handler", name, [Problem("definition", "must be an object")])
    _name_check(problems, name)
    kind = data.get("type")
    if not isinstance(kind, str):
        problems.add("type", "must be a string")
    match kind:
        case "pipe":
            problems.string(data, "command", required=True)
            problems.boolean(data, "shell")
        case "tcp" | "udp":
            socket = data.get("socket")
            if not isinstance(socket, dict):
                problems.add("socket", "must be an object")
            else:
                if not isinstance(socket.get("host"), str) or not socket["host"]:
                    problems.add("socket.host", "must be a string")
                port = socket.get("port")
                if not _is_integer(port):
                    problems.add("socket.port", "must be an integer")
                elif not 1 <= port <= PORT_MAX:
                    problems.add("socket.port", f"must be from 1 to {PORT_MAX}")
        case "transport":
            pipe = data.get("pipe")
            if not isinstance(pipe, dict):
                problems.add("pipe", "must be an object")
            else:
                if not isinstance(pipe.get("type"), str):
                    problems.add("pipe.type", "must be a string")
                elif pipe["type"] not in ("direct", "fanout", "topic"):
                    problems.add("pipe.type", 'must be "direct", "fanout" or "topic"')
                if not isinstance(pipe.get("name"), str) or not pipe["name"]:
                    problems.add("pipe.name", "must be a string")
                if pipe.get("options") is not None and not isinstance(pipe["options"], dict):
                    problems.add("pipe.options", "must be an object")
        case "set":
            problems.strings_array(data, "handlers", required=True)
        case "http":
            _http_check(problems, data.get("http"))
        case str():
            problems.add("type", "unknown handler type")
    # validate_handler_filtering
    problems.strings_array(data, "filters")
    problems.string(data, "filter")
    # validate_handler_severities
    severities = data.get("severities")
    if severities is not None:
        if not isinstance(severities, list):
            problems.add("severities", "must be an array")
        elif not all(s in SEVERITY_NAMES for s in severities):
            problems.add("severities", "must each be one of ok, warning, critical, unknown")
    problems.timeout(data)
    problems.string(data, "mutator")
    problems.boolean(data, "handle_flapping")
    problems.boolean(data, "handle_silenced")
    problems.raise_if_any("handler", str(name))


def _http_check(problems: _Problems, http: Any) -> None:
    if not isinstance(http, dict):
        problems.add("http", "must be an object with a url")
        return
    url = http.get("url")
    if not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/]+\S*", url):
        problems.add("http.url", "must be an http:// or https:// URL")
    elif len(url) > URL_MAX_LENGTH:
        problems.add("http.url", f"must be at most {URL_MAX_LENGTH} characters")
    elif "@" in urlsplit(url).netloc:
        # The URL is shown in the admin's list, /settings and the trail; headers are masked.
        problems.add("http.url", "must not carry credentials: put them in a header")
    headers = http.get("headers")
    if headers is not None and not (
        isinstance(headers, dict)
        and all(isinstance(v, str) and "\n" not in v and "\r" not in v for v in headers.values())
        and all(re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", k) for k in headers)
    ):
        problems.add("http.headers", "must be an object of header names to string values")
    retries = http.get("retries")
    if retries is not None and not (_is_integer(retries) and 0 <= retries <= HTTP_RETRIES_MAX):
        problems.add("http.retries", f"must be an integer from 0 to {HTTP_RETRIES_MAX}")


def filter_validate(name: str, data: Any) -> None:
    """sensu-settings validators/filter.rb validate_filter; `eval:` values must compile."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise DefinitionInvalid("filter", name, [Problem("definition", "must be an object")])
    _name_check(problems, name)
    problems.boolean(data, "negate")
    if not isinstance(data.get("attributes"), dict):
        problems.add("attributes", "must be an object")
    else:
        _eval_attributes_check(problems, data["attributes"], "attributes")
    if _truthy(data.get("when")):
        problems.time_windows(data, "when")
    problems.raise_if_any("filter", str(name))


def mutator_validate(name: str, data: Any) -> None:
    """sensu-settings validators/mutator.rb validate_mutator."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise DefinitionInvalid("mutator", name, [Problem("definition", "must be an object")])
    _name_check(problems, name)
    problems.string(data, "command", required=True)
    problems.timeout(data)
    problems.boolean(data, "shell")
    problems.raise_if_any("mutator", str(name))


# --- JSON form -> model --------------------------------------------------------------------


def _seconds(value: Any) -> int | None:
    """Sensu's numeric timeouts in whole seconds, rounded up (a timeout never shrinks)."""
    return None if value is None else math.ceil(value)


CHECK_COLUMNS = {
    "command",
    "type",
    "subscribers",
    "interval",
    "handlers",
    "standalone",
    "ttl",
    "ttl_status",
    "auto_resolve",
    "low_flap_threshold",
    "high_flap_threshold",
}


def check_fill(check: CheckDefinition, data: dict[str, Any]) -> list[str]:
    check.command = data.get("command") or ""
    check.type = data.get("type") or CheckDefinition.Type.STANDARD
    check.subscribers = list(data.get("subscribers") or [])
    # Sensu needs no interval for an unpublished or cron check; the column does.
    check.interval = data["interval"] if _is_integer(data.get("interval")) else 60
    check.handlers = list(data.get("handlers") or [])
    check.standalone = data.get("standalone") is True
    check.ttl = data.get("ttl") if _truthy(data.get("ttl")) else None
    check.ttl_status = data.get("ttl_status")
    check.auto_resolve = data.get("auto_resolve") is not False
    check.low_flap_threshold = data.get("low_flap_threshold")
    check.high_flap_threshold = data.get("high_flap_threshold")
    attributes = {k: v for k, v in data.items() if k not in CHECK_COLUMNS | {"name"}}
    if data.get("handlers") == []:
        # In Ruby an empty list is true: `handlers: []` means "no handler", not "default".
        # The column cannot tell [] from unset, so the attribute keeps it (as_sensu shows it).
        attributes["handlers"] = []
    check.attributes = attributes
    return []


HANDLER_KEYS = {
    "type",
    "command",
    "shell",
    "timeout",
    "severities",
    "filters",
    "filter",
    "mutator",
    "handle_flapping",
    "handle_silenced",
    "handlers",
    "socket",
    "pipe",
    "http",
    "name",
}


def handler_fill(handler: Handler, data: dict[str, Any]) -> list[str]:
    handler.type = data["type"]
    handler.command = data.get("command") or ""
    handler.shell = data.get("shell") is True
    handler.timeout = _seconds(data.get("timeout"))
    handler.severities = list(data.get("severities") or [])
    # filter.rb event_filtered?: Array(handler[:filters] || handler[:filter]).
    filters = data.get("filters")
    if filters is None and isinstance(data.get("filter"), str):
        filters = [data["filter"]]
    handler.filters = list(filters or [])
    handler.mutator = data.get("mutator") or ""
    handler.handle_flapping = data.get("handle_flapping") is True
    handler.handle_silenced = data.get("handle_silenced") is True
    handler.handlers = list(data.get("handlers") or []) if data["type"] == HandlerType.SET else []
    socket = data.get("socket") if isinstance(data.get("socket"), dict) else {}
    handler.socket_host = socket.get("host") or ""
    handler.socket_port = socket.get("port")
    handler.pipe = data.get("pipe") if data["type"] == HandlerType.TRANSPORT else {}
    http = data.get("http") if isinstance(data.get("http"), dict) else {}
    handler.http_url = http.get("url") or ""
    handler.http_headers = dict(http.get("headers") or {})
    retries = http.get("retries")
    handler.http_retries = 3 if retries is None else retries
    handler.attributes = {k: v for k, v in data.items() if k not in HANDLER_KEYS}
    notes = _shell_notes(handler.command, shell=handler.shell)
    if "filter" in data and "filters" in data:
        notes.append("`filter` ignored: `filters` is set (Sensu uses `filters` first)")
    return notes


def filter_fill(definition: Filter, data: dict[str, Any]) -> list[str]:
    definition.attributes = data["attributes"]
    definition.negate = data.get("negate") is True
    definition.when = data.get("when") if _truthy(data.get("when")) else {}
    return _ignored_keys(data, {"attributes", "negate", "when", "name"})


def mutator_fill(mutator: Mutator, data: dict[str, Any]) -> list[str]:
    mutator.command = data["command"]
    mutator.shell = data.get("shell") is True
    mutator.timeout = _seconds(data.get("timeout"))
    return _shell_notes(mutator.command, shell=mutator.shell) + _ignored_keys(
        data, {"command", "timeout", "shell", "name"}
    )


# Characters that mean something only to a shell: Sensu ran every command with `sh -c`.
SHELL_SYNTAX = re.compile(r"[|&;<>`$*?~]|\(|\)")


def _shell_notes(command: str, *, shell: bool) -> list[str]:
    if shell or not (found := SHELL_SYNTAX.search(command)):
        return []
    return [
        f'the command uses shell syntax ({found[0]}) but runs without a shell: add "shell": true'
        " if it needs one"
    ]


def _ignored_keys(data: dict[str, Any], known: set[str]) -> list[str]:
    """A filter or mutator has no free-form attributes: other keys cannot be kept."""
    unknown = sorted(set(data) - known)
    return (
        [f"ignored unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"]
        if unknown
        else []
    )


@dataclass(frozen=True)
class DefinitionKind:
    """One conf.d category: its model and how a definition is validated, filled and shown."""

    category: str
    word: str
    model: type[models.Model]
    validate: Callable[[str, Any], None]
    fill: Callable[[Any, dict[str, Any]], list[str]]


KINDS = {
    kind.category: kind
    for kind in (
        DefinitionKind("checks", "check", CheckDefinition, check_validate, check_fill),
        DefinitionKind("handlers", "handler", Handler, handler_validate, handler_fill),
        DefinitionKind("filters", "filter", Filter, filter_validate, filter_fill),
        DefinitionKind("mutators", "mutator", Mutator, mutator_validate, mutator_fill),
    )
}


def definition_as_sensu(instance: models.Model, *, redacted: bool = False) -> dict[str, Any]:
    """A definition as Sensu's settings hold it (headers masked when `redacted`)."""
    if isinstance(instance, Handler):
        return instance.as_sensu(redacted=redacted)
    return instance.as_sensu()


def _tracked_values(instance: models.Model) -> dict[str, Any]:
    skip = {"id", "created_at", "updated_at"}
    return {
        f.attname: getattr(instance, f.attname)
        for f in instance._meta.concrete_fields
        if f.attname not in skip
    }


@dataclass(frozen=True)
class Saved:
    instance: models.Model
    # "created", "updated" or "unchanged".
    outcome: str
    notes: list[str]


def definition_save(*, category: str, name: str, data: Any) -> Saved:
    """
    Create or update the `category` definition `name` from its Sensu JSON form, validated
    first (DefinitionInvalid names the fields). A definition equal to the stored one is not
    saved: nothing changes, nothing is audited. Saves through the audited model.
    """
    kind = KINDS[category]
    kind.validate(name, data)
    try:
        with transaction.atomic():  # A savepoint: a lost race rolls back only the insert.
            return _definition_write(kind, name, data)
    except IntegrityError:
        # Another save created `name` between the read and the insert: now it is an update.
        with transaction.atomic():
            return _definition_write(kind, name, data)


def _definition_write(kind: DefinitionKind, name: str, data: dict[str, Any]) -> Saved:
    instance = kind.model.objects.select_for_update().filter(name=name).first()
    created = instance is None
    if created:
        instance = kind.model(name=name)
    before = None if created else _tracked_values(instance)
    notes = kind.fill(instance, data)
    if not created and _tracked_values(instance) == before:
        return Saved(instance, "unchanged", notes)
    try:
        instance.full_clean(validate_unique=False)
    except ValidationError as exc:
        problems = [
            Problem(field, message)
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
        raise DefinitionInvalid(kind.word, name, problems) from exc
    instance.save()
    return Saved(instance, "created" if created else "updated", notes)


# --- A Sensu 1.x configuration directory (manage.py sensu_import) --------------------------

CONFIG_FILE_MAX_BYTES = 1024 * 1024
CONFIG_FILES_MAX = 10_000
CONFIG_TOTAL_MAX_BYTES = 64 * 1024 * 1024
# The settings a Sensu server read that this site takes from elsewhere, and where.
SKIPPED_SETTINGS = {
    "client": "the agent's own settings: sensu-client reads them; clients come from keepalives",
    "api": "the site serves Sensu's API itself, with its own users and tokens",
    "rabbitmq": "the transport is set with SENSU_TRANSPORT_URL",
    "transport": "the transport is set with SENSU_TRANSPORT_URL",
    "redis": "Sensu's registries are tables in the site's database",
    "extensions": (
        "Ruby extensions cannot run here; occurrences, check_dependencies, json and "
        "only_check_output are built in"
    ),
    "sensu": "server tuning comes from the MONITORING_* settings",
    "tessen": "the site sends no usage data",
}


@dataclass
class ConfigRead:
    """A configuration directory merged as Sensu's loader merges it, with what went wrong."""

    settings: dict[str, Any]
    files: list[str]
    problems: list[str]


def _deep_merge(one: dict[str, Any], two: dict[str, Any]) -> dict[str, Any]:
    """sensu-settings loader.rb deep_merge: objects merge, arrays join without repeats."""
    merged = dict(one)
    for key, value in two.items():
        if isinstance(one.get(key), dict) and isinstance(value, dict):
            merged[key] = _deep_merge(one[key], value)
        elif isinstance(one.get(key), list) and isinstance(value, list):
            merged[key] = list(one[key])
            for item in value:
                if item not in merged[key]:
                    merged[key].append(item)
        else:
            merged[key] = value
    return merged


def _config_files(directory: Path) -> Iterator[Path]:
    """The `*.json` files under `directory`, directory by directory, names in sorted order."""
    for folder, subfolders, names in os.walk(directory):
        subfolders.sort()  # Walked in this order: the same tree always merges the same way.
        for name in sorted(names):
            path = Path(folder) / name
            if name.endswith(".json") and path.is_file():
                yield path


def sensu_config_read(directory: Path) -> ConfigRead:
    """
    Every `*.json` file under `directory`, at any depth, merged one after another (Sensu's
    loader.rb load_directory merges them in the order the file system lists them; here the
    order is sorted, so it is the same on every machine). A file that cannot be read, is not
    JSON, is not an object or is too large is reported and left out, where Sensu would
    refuse to start. At most CONFIG_FILES_MAX files and CONFIG_TOTAL_MAX_BYTES are read: the
    walk stops there, whatever directory it is given.
    """
    read = ConfigRead(settings={}, files=[], problems=[])
    total = 0
    for count, path in enumerate(_config_files(directory), start=1):
        shown = str(path.relative_to(directory))
        if count > CONFIG_FILES_MAX:
            read.problems.append(
                f"{shown}: not read, nor any file after it: over {CONFIG_FILES_MAX} files"
            )
            break
        try:
            size = path.stat().st_size
            if size > CONFIG_FILE_MAX_BYTES:
                read.problems.append(f"{shown}: skipped, larger than {CONFIG_FILE_MAX_BYTES} bytes")
                continue
            total += size
            if total > CONFIG_TOTAL_MAX_BYTES:
                read.problems.append(
                    f"{shown}: not read, nor any file after it: over {CONFIG_TOTAL_MAX_BYTES} bytes in all"
                )
                break
            # loader.rb read_config_file: a UTF-8 byte order mark is dropped, blanks stripped.
            text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            read.problems.append(f"{shown}: skipped, cannot be read: {exc}")
            continue
        try:
            config = json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            read.problems.append(f"{shown}: skipped, not valid JSON: {exc}")
            continue
        if not isinstance(config, dict):
            read.problems.append(f"{shown}: skipped, must hold a JSON object")
            continue
        read.settings = _deep_merge(read.settings, config)
        read.files.append(shown)
    return read


@dataclass(frozen=True)
class ImportLine:
    """One line of the import's report: what happened to a definition or a setting."""

    # created, updated, unchanged, invalid or skipped.
    outcome: str
    subject: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.outcome:<9} {self.subject}" + (f": {self.detail}" if self.detail else "")


IMPORT_READ_CHUNK = 500


def _stored_by_name(model: type[models.Model], names: list[str]) -> dict[str, models.Model]:
    stored: dict[str, models.Model] = {}
    for start in range(0, len(names), IMPORT_READ_CHUNK):
        chunk = names[start : start + IMPORT_READ_CHUNK]
        stored.update({row.name: row for row in model.objects.filter(name__in=chunk)})
    return stored


def _notes_if_unchanged(kind: DefinitionKind, stored: models.Model, data: dict) -> list[str] | None:
    """The fill's notes if `data` would leave `stored` as it is, None if it would change it."""
    candidate = copy.copy(stored)
    notes = kind.fill(candidate, data)
    return notes if _tracked_values(candidate) == _tracked_values(stored) else None


def sensu_config_import(settings: dict[str, Any], *, dry_run: bool = False) -> list[ImportLine]:
    """
    Create or update every check, handler, filter and mutator of `settings` (a merged
    configuration), in one transaction: an interrupted import leaves nothing half done. An
    invalid definition is reported and left out; the valid ones are still imported. A
    definition equal to the stored one is left alone and nothing is audited for it, so a
    second import of the same directory changes nothing. `dry_run` rolls everything back.
    """
    lines: list[ImportLine] = []
    for key in sorted(settings):
        if key in CATEGORIES:
            continue
        reason = SKIPPED_SETTINGS.get(key, "not a Sensu server setting this site imports")
        lines.append(ImportLine("skipped", f"{key} settings", reason))
    with transaction.atomic():
        for category, word in CATEGORIES.items():
            if category not in settings:
                continue
            definitions = settings[category]
            if not isinstance(definitions, dict):
                lines.append(ImportLine("invalid", category, "must be an object of definitions"))
                continue
            kind = KINDS[category]
            names = sorted(definitions)
            # One read per chunk of names: a second import of a large directory, all
            # unchanged, costs a few queries rather than a locked read per definition.
            stored = _stored_by_name(kind.model, names)
            for name in names:
                subject = f"{word} {name}"
                data = definitions[name]
                try:
                    if name in stored:
                        kind.validate(name, data)
                        notes = _notes_if_unchanged(kind, stored[name], data)
                        if notes is not None:
                            lines.append(ImportLine("unchanged", subject, "; ".join(notes)))
                            continue
                    saved = definition_save(category=category, name=name, data=data)
                except DefinitionInvalid as exc:
                    detail = "; ".join(str(p) for p in exc.problems)
                    lines.append(ImportLine("invalid", subject, detail))
                    continue
                notes = list(saved.notes)
                if saved.outcome == "created" and name in BUILT_IN_NAMES.get(word, ()):
                    notes.append(f"takes the place of the built-in {word} {name}")
                lines.append(ImportLine(saved.outcome, subject, "; ".join(notes)))
        if dry_run:
            transaction.set_rollback(True)
    return lines
