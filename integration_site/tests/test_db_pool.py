"""
The pool's health check (integration_site.db_pool) against a real PostgreSQL: a connection
whose server process was killed is caught by the check and replaced, unless it was handed out
within the bypass window, where the round trip is skipped.
"""

import time

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from integration_site.db_pool import pool_connection_check

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's pool: PostgreSQL"),
    pytest.mark.django_db,
]


@pytest.fixture
def pool():
    params = {**connection.get_connection_params(), "autocommit": True}
    pool = ConnectionPool(
        kwargs=params, min_size=1, max_size=1, check=pool_connection_check, open=False
    )
    pool.open(wait=True)
    yield pool
    pool.close()


def _backend_kill(pid: int) -> None:
    """Terminate a server process and wait until it is gone, as a PostgreSQL restart would."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        for _ in range(100):
            # The activity view is a snapshot kept for the whole (test) transaction.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone() is None:
                return
            time.sleep(0.02)
    raise AssertionError(f"backend {pid} did not exit")


def _backend_pid(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_an_idle_connection_is_checked_and_a_dead_one_replaced(pool, settings):
    settings.DATABASE_POOL_CHECK_WINDOW_MS = 50
    dead = _backend_pid(pool)
    _backend_kill(dead)
    time.sleep(0.1)  # past the window: the checkout checks

    assert _backend_pid(pool) != dead


def test_a_window_of_zero_checks_every_checkout(pool, settings):
    settings.DATABASE_POOL_CHECK_WINDOW_MS = 0
    dead = _backend_pid(pool)
    _backend_kill(dead)

    assert _backend_pid(pool) != dead


def test_a_connection_used_within_the_window_is_handed_out_unchecked(pool, settings):
    settings.DATABASE_POOL_CHECK_WINDOW_MS = 60_000
    dead = _backend_pid(pool)
    _backend_kill(dead)

    # No round trip on checkout: the dead connection is handed out and its first query fails.
    with pytest.raises(psycopg.OperationalError), pool.connection() as conn:
        conn.execute("SELECT 1")
    # It came back broken, so the pool dropped it: the next checkout gets a live one.
    assert _backend_pid(pool) != dead
