"""
Set-based statements for the event engine's batches (monitoring/engine.py).

On PostgreSQL a batch's rows travel as ONE jsonb parameter that `jsonb_to_recordset` expands
into a typed row set, instead of a placeholder per value: psycopg binds parameters on the
client, splitting the statement and quoting every value in Python, and with 500 results per
batch that (with Django's per-value preparation) was about a third of the worker's CPU.
Other databases (SQLite for development and tests) use the ORM's own bulk methods.
"""

import json
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Field, Model, QuerySet
from django.db.models.expressions import RawSQL

PairKey = tuple[int, str]  # (client_id, check_name)


def _set_based() -> bool:
    return connection.vendor == "postgresql"


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _record_definition(fields: Iterable[Field]) -> str:
    """`jsonb_to_recordset`'s column list: each field's column with its database type."""
    return ", ".join(f"{_quote(f.column)} {f.db_type(connection)}" for f in fields)


def _json_value(field: Field, value: Any) -> Any:
    """A field value as jsonb_to_recordset reads it back into the field's column type."""
    if value is None:
        return None
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        return value.isoformat()
    if kind == "UUIDField":
        return str(value)
    return value  # Numbers, strings, booleans, and JSONField values as they are.


def _records(rows: Iterable[Model], fields: list[Field], *, adding: bool) -> str:
    # As the ORM's bulk methods do: bulk_create runs pre_save (defaults of auto_now_add and
    # the like), bulk_update sends the attributes as they are.
    def value(row: Model, field: Field) -> Any:
        return field.pre_save(row, True) if adding else getattr(row, field.attname)

    return json.dumps(
        [{f.column: _json_value(f, value(row, f)) for f in fields} for row in rows],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def filter_in(queryset: QuerySet, field_name: str, values: Iterable[str]) -> QuerySet:
    """`queryset.filter(<field>__in=values)`, with the values as one parameter."""
    values = list(values)
    if not _set_based():
        return queryset.filter(**{f"{field_name}__in": values})
    meta = queryset.model._meta
    column = f"{_quote(meta.db_table)}.{_quote(meta.get_field(field_name).column)}"
    # `= ANY(ARRAY(...))`, not `IN (SELECT ...)`: the planner cannot tell how many values a
    # set-returning function yields, and for IN it chose a sequential scan of the table.
    matches = RawSQL(
        f"{column} = ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb)))",
        [json.dumps(values, ensure_ascii=False)],
        output_field=BooleanField(),
    )
    return queryset.filter(matches)


def rows_for_pairs(model: type[Model], pairs: list[PairKey], *, lock: bool) -> list:
    """
    The rows of `model` for exactly these (client_id, check_name) pairs, in key order. A row
    value IN (...) matches the pairs themselves (client_id__in x check_name__in would match,
    and lock, the cross product). Sorted so concurrent batches lock in one order.
    """
    table = _quote(model._meta.db_table)
    key = f"({_quote('client_id')}, {_quote('check_name')})"
    if _set_based():
        wanted = (
            "SELECT p.client_id, p.check_name FROM jsonb_to_recordset(%s::jsonb) "
            "AS p(client_id bigint, check_name text)"
        )
        params: list[Any] = [
            json.dumps([{"client_id": c, "check_name": k} for c, k in pairs], ensure_ascii=False)
        ]
    else:
        wanted = f"VALUES {', '.join(['(%s, %s)'] * len(pairs))}"
        params = [value for pair in pairs for value in pair]
    sql = (
        f"SELECT * FROM {table} WHERE {key} IN ({wanted}) "
        f"ORDER BY {_quote('client_id')}, {_quote('check_name')}"
    )
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    return list(model.objects.raw(sql, params))


def rows_insert(rows: list[Model], *, ignore_conflicts: bool = False) -> None:
    """INSERT new rows (their primary keys are not read back: the engine does not need them)."""
    if not rows:
        return
    model = type(rows[0])
    if not _set_based():
        model.objects.bulk_create(rows, ignore_conflicts=ignore_conflicts)
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(_quote(f.column) for f in fields)
    sql = (
        f"INSERT INTO {_quote(model._meta.db_table)} ({columns}) "
        f"SELECT {columns} FROM jsonb_to_recordset(%s::jsonb) AS v({_record_definition(fields)})"
    )
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, [_records(rows, fields, adding=True)])


def rows_update(rows: list[Model], field_names: list[str]) -> None:
    """
    One UPDATE for many rows. (Django's bulk_update builds a CASE per field and row, which
    costs seconds of CPU per 500 rows on PostgreSQL; it is kept for the other databases.)
    """
    if not rows:
        return
    model = type(rows[0])
    if not _set_based():
        model.objects.bulk_update(rows, field_names)
        return
    meta = model._meta
    fields = [meta.get_field(name) for name in field_names]
    assignments = ", ".join(f"{_quote(f.column)} = v.{_quote(f.column)}" for f in fields)
    pk = _quote(meta.pk.column)
    sql = (
        f"UPDATE {_quote(meta.db_table)} AS t SET {assignments} "
        f"FROM jsonb_to_recordset(%s::jsonb) AS v({_record_definition([meta.pk, *fields])}) "
        f"WHERE t.{pk} = v.{pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_records(rows, [meta.pk, *fields], adding=False)])
