"""Every PostgreSQL query has a time limit (issue 14): the request limits every connection
starts with, the worker's longer ones, none during migrate, a 503 when a limit fires, and the
query of a killed client cancelled by the server."""

import io
import os
import signal
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models.signals import pre_migrate

from integration_site.db_limits import session_limits_override, session_limits_restore
from integration_site.registry import registry

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="statement and connection time limits are PostgreSQL's",
    ),
]


def _show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def _site_process(code: str, **env: str) -> subprocess.Popen:
    """A Python process with the site's settings, on the test database."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    url = (
        f"postgres://{quote(db['USER'], safe='')}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    return subprocess.Popen(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "integration_site.settings",
            "DATABASE_URL": url,
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


_SHOW_LIMITS = (
    "from django.db import connection; c = connection.cursor(); "
    "print(*[c.execute(f'SHOW {n}').fetchone()[0] for n in ("
    "'statement_timeout', 'idle_in_transaction_session_timeout', "
    "'client_connection_check_interval', 'tcp_keepalives_idle')])"
)


def test_a_new_connection_starts_with_the_configured_request_limits():
    process = _site_process(
        _SHOW_LIMITS,
        DATABASE_STATEMENT_TIMEOUT_MS="1234",
        DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS="5678",
    )
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.split() == ["1234ms", "5678ms", "2s", "30"]


def test_default_limits_are_thirty_seconds_and_a_minute():
    process = _site_process(_SHOW_LIMITS)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.split()[:2] == ["30s", "1min"]


@pytest.fixture
def tiny_statement_timeout():
    # The same GUC the startup options set, made tiny for this test's session. Inside the
    # test's transaction, so its rollback undoes it.
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 200")


@pytest.mark.urls("integration_site.tests.slow_query_urls")
@pytest.mark.parametrize("path", ["/api/test-slow/drf", "/api/test-slow/plain"])
def test_a_cancelled_query_on_the_api_is_a_503_naming_the_limit(
    client, tiny_statement_timeout, path
):
    response = client.get(path)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    body = response.json()
    assert body["code"] == "query_cancelled"
    assert body["message"] == (
        f"The query took longer than DATABASE_STATEMENT_TIMEOUT_MS "
        f"({settings.DATABASE_STATEMENT_TIMEOUT_MS} ms) and was cancelled; retry later, "
        "or narrow the request."
    )


@pytest.mark.urls("integration_site.tests.slow_query_urls")
def test_a_cancelled_query_on_an_admin_page_is_a_plain_503(client, tiny_statement_timeout):
    response = client.get("/admin/test-slow/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert response["Retry-After"] == "30"
    assert b"DATABASE_STATEMENT_TIMEOUT_MS" in response.content


@pytest.mark.django_db(transaction=True)  # the worker closes connections between polls
def test_the_worker_runs_its_jobs_under_its_own_longer_limits_then_restores(settings):
    settings.WORKER_STATEMENT_TIMEOUT_MS = 900_000
    seen = []

    def record():
        seen.append((_show("statement_timeout"), _show("idle_in_transaction_session_timeout")))

    registry["worker_tick_hooks"].add(record)
    try:
        call_command("worker", "--once", stdout=io.StringIO())
    finally:
        registry["worker_tick_hooks"].discard(record)
    assert seen == [("15min", "15min")]
    assert _show("statement_timeout") == "30s"


@pytest.mark.django_db(transaction=True)
def test_an_override_reaches_a_connection_opened_after_it():
    session_limits_override(statement_timeout_ms=4321, idle_in_transaction_ms=0)
    try:
        connection.close()
        assert _show("statement_timeout") == "4321ms"
        assert _show("idle_in_transaction_session_timeout") == "0"
    finally:
        session_limits_restore()
    assert _show("statement_timeout") == "30s"


def test_migrate_runs_without_a_statement_limit_and_gives_it_back():
    seen = []

    def record(sender, **kwargs):
        seen.append(_show("statement_timeout"))

    pre_migrate.connect(record)
    try:
        call_command("migrate", verbosity=0)
    finally:
        pre_migrate.disconnect(record)
    # Receivers run in order of connection, so the last app's view comes after the lift.
    assert seen[-1] == "0"
    assert _show("statement_timeout") == "30s"


def _backend_of(marker: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
            [f"%{marker}%"],
        )
        row = cursor.fetchone()
    return row[0] if row else None


@pytest.mark.django_db(transaction=True)
def test_the_query_of_a_sigkilled_client_is_cancelled_by_the_server():
    # A gunicorn worker killed mid-request: the kernel closes its socket, but without
    # client_connection_check_interval the backend ran the query to its end.
    marker = f"sigkill-probe-{os.getpid()}-{time.monotonic_ns()}"
    process = _site_process(
        f"from django.db import connection; "
        f"connection.cursor().execute('SELECT pg_sleep(60) /* {marker} */')"
    )
    try:
        deadline = time.monotonic() + 30
        while (pid := _backend_of(marker)) is None:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the probe's query never started"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    # A correctness bound, not a timing one: the query would otherwise run its 60 s.
    deadline = time.monotonic() + 20
    while _backend_of(marker) == pid:
        assert time.monotonic() < deadline, "the killed client's query is still running"
        time.sleep(0.2)
