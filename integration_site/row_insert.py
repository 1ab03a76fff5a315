"""
One INSERT per row for the ingest hot paths (a queued Sensu result, a single audit event),
each a statement of its own in autocommit, atomic and durable alone.

What `Model.save()` would cost there is mostly not the database: compiling the ORM's INSERT
(a fifth to a quarter of such a request's CPU) and, with Django's default client-side
binding, psycopg quoting every value into the SQL text in Python. So the SQL is built once
per model and, on PostgreSQL, sent with the values bound on the server (a plain psycopg
cursor), prepared once per connection unless DATABASE_PREPARE_INSERTS is off (settings:
parsing and planning was half of PostgreSQL's CPU for each INSERT). The values still go
through each field's own `pre_save` and `get_db_prep_save`, exactly as `save()` sends them.
"""

from functools import lru_cache

import psycopg
from django.db import connection
from django.db.models import Field, Model


@lru_cache(maxsize=16)
def _insert_statement(model: type[Model], vendor: str) -> tuple[str, tuple[Field, ...]]:
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields


def rows_insert_each(rows: list[Model]) -> None:
    """INSERT each new row (all of one model) on its own; sets each row's primary key."""
    if not rows:
        return
    sql, fields = _insert_statement(type(rows[0]), connection.vendor)
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        # Django's wrapper would bind on the client; errors are still Django's.
        cursor_context = psycopg.Cursor(connection.connection)
    else:
        cursor_context = connection.cursor()
    with connection.wrap_database_errors, cursor_context as cursor:
        for row in rows:
            cursor.execute(
                sql, [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
            )
            row.pk = cursor.fetchone()[0]
            row._state.adding = False
