"""Chunked request bodies reach the views whole, through the site's real WSGI application."""

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from integration_site.wsgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.urls("integration_site.tests.plumbing_urls")]


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    # As Django's test Client does: a request must not close the connection that holds the
    # test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def post_chunked(body: io.BytesIO, secret: str) -> tuple[str, dict]:
    """POST /api/echo as gunicorn hands over a chunked request: de-chunked, no length."""
    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/echo",
            "CONTENT_TYPE": "application/json",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "HTTP_AUTHORIZATION": f"Bearer {secret}",
            "wsgi.input": body,
            "wsgi.input_terminated": True,
        }
    )
    environ.pop("CONTENT_LENGTH", None)
    answered = {}

    def start_response(status, headers, exc_info=None):
        answered["status"] = status

    content = b"".join(application(environ, start_response))
    return answered["status"], json.loads(content)


def test_a_chunked_body_is_read_whole(make_token):
    _, secret = make_token("audit:write")
    status, body = post_chunked(io.BytesIO(b'{"action": "deploy", "fields": {"a": "b"}}'), secret)
    assert status.startswith("201")
    assert body == {"received": {"action": "deploy", "fields": {"a": "b"}}}


def test_a_chunked_body_over_the_limit_is_413_without_reading_the_rest(make_token, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64
    _, secret = make_token("audit:write")
    stream = io.BytesIO(b'{"action": "' + b"x" * 10_000 + b'"}')
    status, body = post_chunked(stream, secret)
    assert status.startswith("413")
    assert "API_MAX_BODY_BYTES" in body["message"]
    assert stream.tell() == 65  # the limit and one byte: enough to know, no more
