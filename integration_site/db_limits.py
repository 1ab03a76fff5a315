"""
Time limits of PostgreSQL sessions, by the kind of process that holds them.

Every connection starts with the request limits (settings: `DATABASE_STATEMENT_TIMEOUT_MS`,
`DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS`), sent in libpq's startup `options` so a web
request pays no round trip for them. A process whose work is not a request replaces them for
its own connections with `session_limits_override`:

- `manage.py worker`: `WORKER_STATEMENT_TIMEOUT_MS`, for jobs that walk whole tables;
- `manage.py migrate` (and the test runner's migrate): none for its run, because an index
  build or a rewrite of the audit table can take minutes and must not fail half-way; only an
  operator runs it. The request limits come back when it ends (`session_limits_restore`).

An override is applied to each pooled connection the first time this process checks it out
(`connection_created`), since psycopg's pool may hand out a different one after a reconnect.

`statement_time_limit` gives the statements of one block a shorter limit than the session's,
for work that is worth doing only if it is quick.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from django.db import connections, transaction
from django.db.backends.signals import connection_created

# The override this process wants: None for the connection's own (startup) defaults.
_wanted: dict[str, int] | None = None
# What each physical connection was last set to (None: its defaults). Weak: a connection the
# pool discards takes its entry with it.
_applied: WeakKeyDictionary[object, dict[str, int] | None] = WeakKeyDictionary()


def session_limits_override(*, statement_timeout_ms: int, idle_in_transaction_ms: int) -> None:
    """From now on, this process's PostgreSQL sessions run with these limits (0: none)."""
    global _wanted
    _wanted = {
        "statement_timeout": statement_timeout_ms,
        "idle_in_transaction_session_timeout": idle_in_transaction_ms,
    }
    _reconcile_open_connections()


def session_limits_restore() -> None:
    """Back to the limits every connection starts with (the request limits)."""
    global _wanted
    _wanted = None
    _reconcile_open_connections()


def _reconcile_open_connections() -> None:
    connection_created.connect(_reconcile, dispatch_uid="integration_site.db_limits")
    for wrapper in connections.all(initialized_only=True):
        if wrapper.connection is not None:
            _reconcile(sender=type(wrapper), connection=wrapper)


def _reconcile(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql":
        return
    raw = connection.connection
    if _applied.get(raw) == _wanted:
        return
    # A fresh checkout is in autocommit, so the setting cannot be rolled back with someone's
    # transaction. One SELECT each way: a multi-statement string cannot be prepared, and
    # DATABASE_PREPARE_INSERTS has psycopg prepare what is sent on its own cursors.
    with raw.cursor() as cursor:
        if _wanted is None:
            # reset_val: the value the session started with (the startup `options`).
            cursor.execute(
                "SELECT set_config(name, reset_val, false) FROM pg_settings"
                " WHERE name IN ('statement_timeout', 'idle_in_transaction_session_timeout')"
            )
        else:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, false),"
                " set_config('idle_in_transaction_session_timeout', %s, false)",
                [str(value) for value in _wanted.values()],
            )
    _applied[raw] = _wanted


def migrate_limits_lift(sender, **kwargs) -> None:
    """pre_migrate: no time limit for the migration's statements."""
    session_limits_override(statement_timeout_ms=0, idle_in_transaction_ms=0)


def migrate_limits_restore(sender, **kwargs) -> None:
    """post_migrate: the request limits again (the test runner goes on to run tests)."""
    session_limits_restore()


@contextmanager
def statement_time_limit(using: str, milliseconds: int) -> Iterator[None]:
    """The block's statements are cancelled after `milliseconds` each (PostgreSQL; elsewhere
    no limit): a statement past it raises OperationalError caused by QueryCanceled, out of
    the block. Runs in a savepoint, so a cancelled statement leaves the caller's transaction
    usable and the limit is gone with it; after a block that ends well, the previous limit
    is set again, since a local setting would otherwise last to the end of the transaction.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('statement_timeout'),"
                " set_config('statement_timeout', %s, true)",
                [f"{milliseconds}ms"],
            )
            previous = cursor.fetchone()[0]
        yield
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
