"""
A viewer's saved export rendered as Retraced renders it (models/saved_export/render.ts): the
saved query re-run over the session's group, newest first, as CSV with a header row; the
actor flattened into `actor_*` columns; times `YYYY-MM-DD HH:MM:SS` in UTC. Streamed row by
row, at most RETRACED_EXPORT_MAX_ROWS of them.
"""

import csv
import json
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from audits.exports import csv_formula_guard
from audits.models import AuditEvent, Crud, RetracedSavedExport
from audits.retraced.authentication import ViewerSession
from audits.retraced.graphql import event_node
from audits.retraced.search import SearchScope, retraced_events_search

# Retraced's columns are the keys of its stored event document; these are the ones our
# events carry, in that document's order, then the actor's flattened keys (its id dropped,
# as Retraced drops it).
CSV_COLUMNS = (
    "id",
    "action",
    "crud",
    "description",
    "created",
    "received",
    "canonical_time",
    "is_failure",
    "is_anonymous",
    "source_ip",
    "country",
    "loc_subdiv1",
    "loc_subdiv2",
    "component",
    "version",
    "external_id",
    "group",
    "target",
    "fields",
    "metadata",
    "actor_name",
    "actor_href",
    "actor_fields",
)
CSV_TIME = "%Y-%m-%d %H:%M:%S"
CRUD_FLAGS = (
    ("showCreate", Crud.CREATE),
    ("showRead", Crud.READ),
    ("showUpdate", Crud.UPDATE),
    ("showDelete", Crud.DELETE),
)
ITERATOR_CHUNK = 1000


def saved_export_events(export: RetracedSavedExport, session: ViewerSession) -> QuerySet:
    """
    The events a saved export selects, newest first: its query within the session's group
    (and target, for a target-scoped viewer), the crud kinds it shows, and its received-time
    range when it has one. Raises audits.search.errors.QueryError for a bad query.
    """
    body = export.body
    scope = SearchScope(
        project=session.project,
        environment=session.environment,
        group_id=session.group_id,
        target_id=session.target_id or None,
    )
    events = retraced_events_search(scope, body.get("searchQuery") or "")
    events = events.filter(crud__in=[crud for flag, crud in CRUD_FLAGS if body.get(flag)])
    start, end = body.get("startTime"), body.get("endTime")
    if start is not None:
        events = events.filter(received_at__gte=export_time(start))
    if end is not None:
        events = events.filter(received_at__lt=export_time(end))
    return events.order_by("-created_at", "-id")


def export_time(value: int | float | str) -> datetime:
    """A saved export's startTime/endTime (validated when saved): epoch ms or ISO 8601."""
    if isinstance(value, str):
        parsed = parse_datetime(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def export_filename(name: str) -> str:
    """
    The export's name as sanitize-filename leaves it, whitespace as underscores, `.csv`:
    no path separators, reserved or control characters, nothing a header could split on.
    """
    name = unicodedata.normalize("NFC", name)
    name = re.sub(r'[/?<>\\:*|"\x00-\x1f\x7f-\x9f]', "", name)
    name = re.sub(r"^\.+$", "", name)
    if re.fullmatch(r"(?i)(con|prn|aux|nul|com\d|lpt\d)(\..*)?", name):
        name = ""
    name = re.sub(r"\s", "_", name.rstrip(". "))[:200]
    return f"{name or 'export'}.csv"


class _Line:
    """csv.writer's file: hands back each line it writes."""

    def write(self, line: str) -> str:
        return line


def csv_lines(events: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Line(), lineterminator="\n")
    yield writer.writerow(CSV_COLUMNS)
    for event in events.iterator(chunk_size=ITERATOR_CHUNK):
        yield writer.writerow(_row(event))


def _row(event: AuditEvent) -> list[str]:
    node = event_node(event)
    actor = node["actor"]
    values = {
        **node,
        "created": event.created_at.astimezone(UTC).strftime(CSV_TIME),
        "received": event.received_at.astimezone(UTC).strftime(CSV_TIME),
        "canonical_time": event.created_at.astimezone(UTC).strftime(CSV_TIME),
        "target": _without_nulls(node["target"]),
        "group": _without_nulls(node["group"]),
        "fields": event.fields or None,
        "metadata": event.metadata or None,
        "actor_name": actor["name"],
        "actor_href": actor["href"],
        "actor_fields": event.actor_fields or None,
    }
    return [_cell(values.get(column)) for column in CSV_COLUMNS]


def _without_nulls(value: dict | None) -> dict | None:
    return None if value is None else {k: v for k, v in value.items() if v is not None}


def _cell(value) -> str:
    # csv-stringify's casts: booleans as "1" and "", objects as JSON, null as empty. Unlike
    # Retraced, text a spreadsheet would run as a formula (an actor named "=HYPERLINK(...)")
    # is kept as text, as the admin's exports keep it.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return csv_formula_guard(str(value))
