"""
Streamed exports of an audit event queryset as CSV or JSON Lines: rows are read in chunks
from a server-side cursor and written as they come, so memory stays flat on any size.
"""

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime

from django.db.models import QuerySet

EXPORT_FIELDS = (
    "id",
    "chain",
    "seq",
    "created_at",
    "received_at",
    "source",
    "action",
    "crud",
    "name",
    "title",
    "description",
    "actor_type",
    "actor_id",
    "actor_name",
    "actor_fields",
    "target_type",
    "target_id",
    "target_name",
    "target_fields",
    "associated_type",
    "associated_id",
    "associated_name",
    "group_id",
    "group_name",
    "version",
    "audited_changes",
    "comment",
    "remote_address",
    "request_uuid",
    "is_failure",
    "is_anonymous",
    "fields",
    "metadata",
    "external_id",
    "component",
    "component_version",
    "prev_hash",
    "hash",
)
CHUNK_SIZE = 2000
# A spreadsheet runs a cell starting with these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return csv_formula_guard(str(value))


def csv_formula_guard(text: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading `'`."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _rows(queryset: QuerySet) -> Iterator[tuple]:
    return queryset.values_list(*EXPORT_FIELDS).iterator(chunk_size=CHUNK_SIZE)


def export_csv(queryset: QuerySet) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_FIELDS)
    for row in _rows(queryset):
        yield writer.writerow([_csv_cell(value) for value in row])


def export_json_lines(queryset: QuerySet) -> Iterator[str]:
    # json.dumps escapes control characters, so one event is always exactly one line.
    for row in _rows(queryset):
        document = dict(zip(EXPORT_FIELDS, row, strict=True))
        document["created_at"] = _iso(document["created_at"])
        document["received_at"] = _iso(document["received_at"])
        # ASCII-only: U+2028 and friends would split the line for some readers.
        yield json.dumps(document) + "\n"
