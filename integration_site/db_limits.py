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
for work that is worth doing only if it is quick. `slow_read` builds on it: a read that is
cheap for almost every caller runs within a budget, and only past it, holding one of a few
slots, without.
"""

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from django.db import OperationalError, connections, transaction
from django.db.backends.signals import connection_created
from psycopg.errors import QueryCanceled

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


# --- Slow reads: a budget first, then a slot -------------------------------------------------

# The advisory-lock namespaces of the slots (the first key of pg_try_advisory_xact_lock(int,
# int)); no other code of the site takes advisory locks.
SLOW_READ_SITE_SLOTS = 0x51_0001
SLOW_READ_KEY_SLOT = 0x51_0002


class SlowReadRefused(Exception):
    """A read ran past its budget and no slot was free to run it without: `of_key` when the
    key's own slot was taken (another slow read of the same caller; refused before it ran),
    else the site's, once the read had run past `budget_ms`."""

    def __init__(self, *, of_key: bool, budget_ms: int | None = None):
        super().__init__("key" if of_key else "site")
        self.of_key = of_key
        self.budget_ms = budget_ms


def slow_read[T](
    run: Callable[[], T],
    *,
    using: str,
    key: str,
    budget_ms: int,
    busy_budget_ms: int,
    slots: int,
) -> T:
    """
    `run()`, a read whose statements are quick for almost every caller and slow for a few
    (the exact count of a million matches). PostgreSQL: first with each statement limited to
    `budget_ms`; if one runs past it, `run()` again without that limit, but only while holding
    the one slot of `key` and one of the database server's `slots` (transaction-level
    advisory locks, taken without waiting), else SlowReadRefused. So a caller has at most one
    slow read running and the server at most `slots`.

    What a refusal costs the server: while the key's slow read runs, the key's other reads
    are refused before they run (a caller sending the same slow search in a loop costs one
    lock probe per extra request). While every one of the server's slots is taken, the first
    run gets `busy_budget_ms` instead of `budget_ms`: a read past it could only be refused,
    and many callers (an attacker holding many keys) would each cost a whole budget before
    their refusal. A read quicker than `busy_budget_ms` is never refused.

    A slot is per server: a replica counts its own. Elsewhere, or with a budget of 0, just
    `run()`.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or budget_ms <= 0:
        return run()
    key_busy, site_full = _slow_read_probe(using, key=key, slots=slots)
    if key_busy:
        raise SlowReadRefused(of_key=True)
    first_budget_ms = min(budget_ms, busy_budget_ms) if site_full else budget_ms
    try:
        with statement_time_limit(using, first_budget_ms):
            return run()
    except OperationalError as exc:
        if not isinstance(exc.__cause__, QueryCanceled):
            raise
    with transaction.atomic(using=using):
        _slow_read_slots_take(using, key=key, slots=slots, ran_past_ms=first_budget_ms)
        return run()


def slot_number(key: str) -> int:
    """A stable signed 32-bit number for `key` (hashtext is PostgreSQL's own, not promised)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), signed=True)


def _slow_read_probe(using: str, *, key: str, slots: int) -> tuple[bool, bool]:
    """In one statement: whether a slow read of `key` holds its slot now (the lock taken and
    at once released, session-level, so nothing is held after it; or found taken), and
    whether every one of the server's `slots` is held (advisory locks are per database, and
    pg_locks is where another session's are seen without taking them)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN pg_try_advisory_lock(%s, %s) THEN NOT pg_advisory_unlock(%s, %s)"
            " ELSE true END,"
            " (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            "   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            "   AND objsubid = 2 AND classid::bigint = %s AND objid::bigint < %s) >= %s",
            [SLOW_READ_KEY_SLOT, slot_number(key)] * 2 + [SLOW_READ_SITE_SLOTS, slots, slots],
        )
        return cursor.fetchone()


def _slow_read_slots_take(using: str, *, key: str, slots: int, ran_past_ms: int) -> None:
    """Take the key's slot, then the first free one of the site's `slots`, in the caller's
    transaction (they are released with it), or raise SlowReadRefused."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)", [SLOW_READ_KEY_SLOT, slot_number(key)]
        )
        if not cursor.fetchone()[0]:
            raise SlowReadRefused(of_key=True)
        # The Limit pulls one row at a time, so the locks of the slots tried after the first
        # free one are never taken.
        cursor.execute(
            "SELECT slot FROM generate_series(0, %s - 1) AS slot"
            " WHERE pg_try_advisory_xact_lock(%s, slot) LIMIT 1",
            [slots, SLOW_READ_SITE_SLOTS],
        )
        if cursor.fetchone() is None:
            raise SlowReadRefused(of_key=False, budget_ms=ran_past_ms)
