"""
Sensu 1.x's event filters: native filters (an attribute match with `eval:`, `negate` and
`when` time windows; filter.rb `native_filter`, utilities.rb `attributes_match?` and
`in_time_windows?`) and the built-in extension filters `occurrences`
(sensu-extensions-occurrences) and `check_dependencies` (sensu-extensions-check-dependencies).
A Filter row of a built-in's name takes precedence, as Sensu looked up settings first.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.db.models import Q
from django.utils import timezone

from monitoring.handling.expressions import (
    EVAL_PREFIX,
    ExpressionError,
    expression_compile,
    ruby_equal,
    ruby_to_s,
)
from monitoring.models import Event, Filter

logger = logging.getLogger(__name__)

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A check names at most this many dependencies; more are ignored (one bounded query).
MAX_DEPENDENCIES = 100


def attributes_match(
    event: dict[str, Any], match: dict[str, Any], attributes: dict[str, Any] | None = None
) -> bool:
    """
    utilities.rb `attributes_match?`: every key matches when the values are equal, both are
    hashes that match recursively, their `to_s` are equal, or the wanted value is an `eval:`
    expression true for the event's value.
    """
    attributes = event if attributes is None else attributes
    for key, wanted in match.items():
        found = attributes.get(key) if isinstance(attributes, dict) else None
        if ruby_equal(wanted, found):
            continue
        if isinstance(wanted, dict) and isinstance(found, dict):
            if attributes_match(event, wanted, found):
                continue
            return False
        if ruby_to_s(wanted) == ruby_to_s(found):
            continue
        if isinstance(wanted, str) and wanted.startswith(EVAL_PREFIX):
            if _eval_matches(wanted, found, event):
                continue
            return False
        return False
    return True


def _eval_matches(expression: str, value: Any, event: dict[str, Any]) -> bool:
    try:
        matches = expression_compile(expression)
    except ExpressionError as error:
        # A definition saved before validation existed: Sensu logged its SyntaxError and did
        # not match.
        logger.error("filter attribute eval error: %s (%r)", error, expression)
        return False
    return matches(value, event)


# What Ruby's Time.parse reads in a time window: "9:00 AM", "17:30", "5PM", "11 p.m.".
_CLOCK = re.compile(
    r"\s*(?P<hour>\d{1,2})(:(?P<minute>\d{2}))?(:(?P<second>\d{2}))?\s*"
    r"(?P<meridian>[AaPp]\.?[Mm]\.?)?\s*"
)


def clock_parse(text: Any) -> time | None:
    """
    A window bound as Sensu's users wrote it for Time.parse, None if it is not one. The
    filters' `when` and the checks' `subdue` windows are read, and validated
    (monitoring.definitions), with this one function.
    """
    if not isinstance(text, str):
        return None
    match = _CLOCK.fullmatch(text)
    if match is None:
        return None
    hour, minute, second = (int(match[g] or 0) for g in ("hour", "minute", "second"))
    meridian = (match["meridian"] or "").lower()[:1]
    if meridian:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridian == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def in_time_window(condition: Any, now: datetime) -> bool:
    """
    utilities.rb `in_time_window?`: between `begin` and `end` today; a window whose end is
    before its begin crosses midnight (before the end it started yesterday, after the begin it
    runs to the end of today).
    """
    if not isinstance(condition, dict) or "begin" not in condition or "end" not in condition:
        return False
    begin_clock = clock_parse(condition["begin"])
    end_clock = clock_parse(condition["end"])
    if begin_clock is None or end_clock is None:
        logger.error("filter time window has an unreadable begin or end: %r", condition)
        return False
    begin = datetime.combine(now.date(), begin_clock, tzinfo=now.tzinfo)
    end = datetime.combine(now.date(), end_clock, tzinfo=now.tzinfo)
    if end < begin:
        if now < end:
            begin = datetime.combine(now.date(), time(0, 0), tzinfo=now.tzinfo)
        else:
            end = datetime.combine(now.date(), time.max, tzinfo=now.tzinfo)
    return begin <= now <= end


def in_time_windows(when: Any, now: datetime | None = None) -> bool:
    """
    utilities.rb `in_time_windows?`: `days.all` windows, then today's (monday..sunday), in
    the site's time zone (Sensu used the server's local time).
    """
    now = timezone.localtime(now or timezone.now())
    days = when.get("days") if isinstance(when, dict) else None
    if not isinstance(days, dict):
        return False
    for key in ("all", DAYS[now.weekday()]):
        windows = days.get(key)
        if isinstance(windows, list) and any(in_time_window(w, now) for w in windows):
            return True
    return False


def native_filter_filters(definition: Filter, event: dict[str, Any], now=None) -> bool:
    """
    filter.rb `native_filter`: outside its `when` windows a filter does not filter; inside,
    the event is filtered when the attributes do not match (or match, with `negate`).
    """
    if definition.when and not in_time_windows(definition.when, now):
        return False
    matched = attributes_match(event, definition.attributes or {})
    return matched if definition.negate else not matched


def _integer(value: Any) -> int | None:
    """The extension's `str2int`: an Integer, or a String Integer() accepts, else nil."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        for base in (10, 0):  # Integer("12"), and Integer("0x1A") as Ruby reads it.
            try:
                return int(value.strip(), base)
            except ValueError:
                continue
        return None
    return None


def occurrences_filter_reason(event: dict[str, Any]) -> str:
    """
    sensu-extensions-occurrences `event_filtered?`: "" when the event passes, else why not.
    `occurrences` (default 1) and `refresh` (default 1800 s) come from the check.
    """
    check = event.get("check") or {}
    occurrences = _integer(check.get("occurrences"))
    occurrences = 1 if occurrences is None else occurrences
    refresh = _integer(check.get("refresh"))
    refresh = 1800 if refresh is None else refresh
    action = event.get("action")
    if action == "resolve" and (event.get("occurrences_watermark") or 0) >= occurrences:
        return ""
    count_seen = event.get("occurrences") or 0
    if count_seen < occurrences:
        return "not enough occurrences"
    if count_seen > occurrences and action in ("create", "flapping"):
        interval = check.get("interval")
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            interval = 60
        count = int(refresh / interval)
        if count != 0 and (count_seen - occurrences) % count != 0:
            return f"only handling every {count} occurrences"
    return ""


def dependencies_filter_reason(event: dict[str, Any]) -> str:
    """
    sensu-extensions-check-dependencies: the event is filtered while an event exists for one
    of the check's `dependencies`, each `check` (same client) or `client/check`.
    """
    dependencies = (event.get("check") or {}).get("dependencies")
    if not isinstance(dependencies, list):
        return ""
    client_name = (event.get("client") or {}).get("name", "")
    pairs = []
    for dependency in dependencies[:MAX_DEPENDENCIES]:
        if not isinstance(dependency, str) or not dependency:
            continue
        client, _, check = dependency.rpartition("/")
        pairs.append((client or client_name, check))
    if not pairs:
        return ""
    query = Q()
    for client, check in pairs:
        query |= Q(client__name=client, check_name=check)
    found = Event.objects.filter(query).values_list("client__name", "check_name").first()
    if found is None:
        return ""
    return f"dependency {found[0]}/{found[1]} has an event"


BUILTIN_FILTERS = {
    "occurrences": occurrences_filter_reason,
    "check_dependencies": dependencies_filter_reason,
}


@dataclass
class FilterBook:
    """The Filter rows a batch of events may need, by name (loaded once per batch)."""

    definitions: dict[str, Filter]

    @classmethod
    def load(cls, names: set[str]) -> "FilterBook":
        if not names:
            return cls({})
        return cls({f.name: f for f in Filter.objects.filter(name__in=names)})


def event_filter_reason(name: str, event: dict[str, Any], book: FilterBook, now=None) -> str:
    """
    filter.rb `event_filter` for one filter name: "" when the event passes, else why it was
    filtered. A Filter row comes first, then a built-in; an unknown name does not filter
    (Sensu logs "unknown filter").
    """
    definition = book.definitions.get(name)
    if definition is not None:
        if native_filter_filters(definition, event, now):
            return f"filtered by {name}"
        return ""
    builtin = BUILTIN_FILTERS.get(name)
    if builtin is not None:
        reason = builtin(event)
        return f"filtered by {name}: {reason}" if reason else ""
    logger.error("unknown filter %r: the event is not filtered", name)
    return ""
