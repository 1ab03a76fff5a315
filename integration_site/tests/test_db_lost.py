"""
A database connection lost mid-flight (a PostgreSQL restart, an operator's
pg_terminate_backend) is a 503 with Retry-After, never a 500, on DRF views, plain views, the
admin and the ingest fast path; and the next request gets a fresh connection.

The shared server is not restarted: the backend serving the request's connection is
terminated (pg_terminate_backend), which is what a restart does to each of them, and the
query in flight fails as it would then.

Requests go through Django's real WSGI handler, not the test client: the client turns off the
`close_old_connections` that runs at each request's start and end, and that is what drops
the broken connection so the next request reconnects.
"""

import json
from io import BytesIO

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import RequestFactory

from integration_site import fast_path
from integration_site.errors import DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS
from integration_site.tests.lost_connection_urls import backend_terminate

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL backend"),
    # The connection is killed: no test transaction can span it.
    pytest.mark.django_db(transaction=True),
]

MESSAGE = (
    f"The database is unavailable; retry in {DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS} seconds."
)


def _wsgi(method: str, path: str, **extra) -> tuple[int, dict[str, str], bytes]:
    environ = getattr(RequestFactory(), method.lower())(path, **extra).environ
    if "wsgi.input" in environ and not hasattr(environ["wsgi.input"], "read"):
        environ["wsgi.input"] = BytesIO(environ["wsgi.input"])
    started: dict = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = int(status.split()[0]), dict(headers)

    response = WSGIHandler()(environ, start_response)
    try:
        body = b"".join(response)
    finally:
        response.close()  # request_finished: close_old_connections
    return started["status"], started["headers"], body


@pytest.mark.urls("integration_site.tests.lost_connection_urls")
@pytest.mark.parametrize("path", ["/api/test-db/drf", "/api/test-db/plain"])
def test_a_lost_connection_on_the_api_is_a_503_then_the_next_request_reconnects(path):
    status, headers, body = _wsgi("GET", path + "?die=1")
    assert status == 503
    assert headers["Retry-After"] == str(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS)
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"message": MESSAGE, "code": "database_unavailable"}

    status, _, body = _wsgi("GET", path)
    assert status == 200, body


@pytest.mark.urls("integration_site.tests.lost_connection_urls")
def test_a_lost_connection_on_an_admin_page_is_a_plain_503():
    status, headers, body = _wsgi("GET", "/admin/test-db/?die=1")
    assert status == 503
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["Retry-After"] == str(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS)
    assert body.decode() == MESSAGE


@pytest.fixture
def audit_writer_secret(make_token):
    _, secret = make_token("audit:write")
    return secret


def test_a_lost_connection_on_the_ingest_fast_path_is_a_503(audit_writer_secret, monkeypatch):
    verify = fast_path.api_token_verify
    deaths = [1]  # one: the next request must reconnect

    def verify_after_the_server_went_away(secret):
        if deaths:
            deaths.pop()
            backend_terminate()
        return verify(secret)

    monkeypatch.setattr(fast_path, "api_token_verify", verify_after_the_server_went_away)
    event = {"name": "user.login", "action": "user.login.success"}
    status, headers, body = _wsgi(
        "POST",
        "/audit/v1/event",
        data=json.dumps(event),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {audit_writer_secret}",
    )
    assert status == 503, body
    assert headers["Retry-After"] == str(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS)
    assert json.loads(body)["code"] == "database_unavailable"

    status, _, body = _wsgi(
        "POST",
        "/audit/v1/event",
        data=json.dumps(event),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {audit_writer_secret}",
    )
    assert status == 201, body
