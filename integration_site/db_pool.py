"""
The health check of psycopg's connection pool (settings.DATABASES, PostgreSQL only).

Django's pool checks every connection it hands out with an empty query: one round trip per
request, which on the two-core machines this runs on cost about as much CPU as the INSERT of
a queued Sensu result (docs/benchmarks.md). A connection handed out a moment ago is almost
certainly still good (one that broke during use comes back in a bad state and the pool
discards it), so, like HikariCP's `aliveBypassWindowMs`, the round trip is skipped for a
connection last checked out within `DATABASE_POOL_CHECK_WINDOW_MS`; one that sat idle, where a
server restart or an idle timeout may have cut it, is still checked before use.

The time is taken at checkout, not at return: the pool's `reset` hook would tell the return,
but psycopg_pool then hands every returned connection to a background thread, which makes the
next checkout wait for it.
"""

import time
from weakref import WeakKeyDictionary

from django.conf import settings
from psycopg import Connection
from psycopg_pool import ConnectionPool

# When each pooled connection was last handed out. Weak: a connection the pool discards
# takes its entry with it.
_handed_out_at: WeakKeyDictionary[Connection, float] = WeakKeyDictionary()


def pool_connection_check(conn: Connection) -> None:
    """
    The pool's `check` callback, run on every checkout: raise if the connection is unusable
    (the pool then replaces it), skipping the round trip within the bypass window.
    """
    now = time.monotonic()
    window = settings.DATABASE_POOL_CHECK_WINDOW_MS / 1000
    previous = _handed_out_at.get(conn)
    if previous is None or now - previous >= window:
        ConnectionPool.check_connection(conn)
    _handed_out_at[conn] = now
