"""Fixtures shared by every test: API clients with scoped tokens, users, and the browser."""

import os
import shutil
import tempfile
import threading

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from integration_site.services import api_token_create

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Playwright's sync API runs an event loop in the test thread; Django's async-safety guard
# would otherwise refuse that thread's ORM calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _plain_static_storage(settings, tmp_path):
    # Manifest storage needs collectstatic; tests render templates without it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Each test's own chain anchors: the database is emptied between tests, and anchors of
    # an earlier test's chain would report this one's as rewound.
    settings.AUDIT_ANCHOR_PATH = tmp_path / "audit-anchors.jsonl"


def _flush_as_replica_superuser(self, sql_list):
    """
    PostgreSQL's execute_sql_flush, in `session_replication_role = replica`: the audit
    tables' triggers let a TRUNCATE through only for a superuser in that mode (migration
    0012), a deliberate act no site role can perform, so the test runner's flush between
    transactional tests needs no bypass that production would carry.
    """
    with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for sql in sql_list:
            cursor.execute(sql)


def pytest_configure(config):
    from django.db.backends.postgresql.operations import DatabaseOperations

    DatabaseOperations.execute_sql_flush = _flush_as_replica_superuser


@pytest.fixture
def other_connection():
    """other_connection() -> an autocommit psycopg connection of its own to the test
    database (PostgreSQL), as another process would hold: for its locks. Closed after."""
    import psycopg
    from django.db import connection

    opened = []

    def connect() -> "psycopg.Connection":
        db = connection.settings_dict
        conn = psycopg.connect(
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            user=db["USER"],
            password=db["PASSWORD"] or None,
            dbname=db["NAME"],
            autocommit=True,
        )
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_token(db):
    """make_token("audit:write", ...) -> (ApiToken, secret)."""

    counter = iter(range(10_000))

    def make(*scopes: str, **kwargs):
        return api_token_create(name=f"test-token-{next(counter)}", scopes=list(scopes), **kwargs)

    return make


@pytest.fixture
def token_client(make_token):
    """token_client("audit:read") -> an APIClient sending a bearer token with those scopes."""

    def make(*scopes: str) -> APIClient:
        _, secret = make_token(*scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make


@pytest.fixture
def through_drf(monkeypatch) -> list[int]:
    """A list that grows by one for each request DRF dispatches (the ingest fast path's not)."""
    from rest_framework.views import APIView

    calls: list[int] = []
    dispatch = APIView.dispatch
    monkeypatch.setattr(
        APIView, "dispatch", lambda view, *a, **kw: calls.append(1) or dispatch(view, *a, **kw)
    )
    return calls


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(
        username="root", email="root@example.com", password="correct horse battery staple"
    )


@pytest.fixture
def admin_client_api(superuser) -> APIClient:
    client = APIClient()
    client.force_authenticate(superuser)
    return client


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(
                pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
            )


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    user_data = tempfile.mkdtemp(prefix="chromium-profile-")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data, executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS
        )
        yield context
        context.close()
    shutil.rmtree(user_data, ignore_errors=True)


@pytest.fixture
def page(request, browser):
    """
    A new tab. The test fails on any error the browser reports (an uncaught exception, a
    console.error, a resource refused by the CSP or answering 4xx/5xx) unless it is marked
    `browser_errors_expected`: a console error is a broken page whatever the test asserts.
    """
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: message.type == "error" and errors.append(f"console: {message.text}"),
    )
    yield page
    page.close()
    if errors and request.node.get_closest_marker("browser_errors_expected") is None:
        pytest.fail("the browser reported errors:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture
def live_site(live_server):
    """
    The live server, answering one request at a time on SQLite. There the test server hands
    its request threads the test's own in-memory connection (pytest-django), and a page that
    sends requests in parallel (the logs viewer's two sessions and two searches on mount, the
    monitoring overview's poll overlapping an action's POST) would use one connection from
    two threads at once: "database table is locked". A real site has a connection per
    thread. PostgreSQL keeps the concurrency.
    """
    if connection.vendor != "sqlite":
        yield live_server
        return
    httpd = live_server.thread.httpd
    app = httpd.get_app()
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            result = app(environ, start_response)
            try:
                body = b"".join(result)  # streamed bodies read the database too
            finally:
                if hasattr(result, "close"):
                    result.close()
        return [body]

    httpd.set_app(one_at_a_time)
    yield live_server
    httpd.set_app(app)


@pytest.fixture
def admin_page(page, live_server, transactional_db, superuser):
    """A browser page signed in to the admin as the superuser."""
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", "correct horse battery staple")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    return page


@pytest.fixture
def demo_data(transactional_db, superuser):
    """Every app's demo rows, as `manage.py bootstrap` loads them on a fresh site."""
    from integration_site.registry import registry
    from integration_site.request_context import operation

    with operation(), transaction.atomic():
        for loader in registry["demo_loaders"].values():
            loader(lambda line: None)
