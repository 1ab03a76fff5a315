"""
A write the database's storage refuses (a full disk, a quota, a file size limit) is a JSON
507 with Retry-After that says nothing was stored, never a 500; and writes work again once
space is back. The live version (a real gunicorn whose SQLite file hits RLIMIT_FSIZE) is in
tests/hostile/test_faults.py.

SQLite is filled for real here: `PRAGMA max_page_count` pinned to the file's current size
makes it answer SQLITE_FULL ("database or disk is full"), as ENOSPC does. PostgreSQL's
disk_full cannot be provoked on the shared server: its classification is checked on the
error psycopg raises.
"""

import json
import sqlite3
from contextlib import contextmanager

import pytest
from django.db import connection
from django.db.utils import OperationalError
from psycopg.errors import DiskFull

from audits.models import AuditEvent
from integration_site.errors import (
    STORAGE_FULL_MESSAGE,
    STORAGE_FULL_RETRY_AFTER_SECONDS,
    api_exception_handler,
    storage_full,
)

# Larger than a page (4 KiB): the row needs pages the pinned file cannot grow.
BIG_EVENT = {"action": "storage.filled", "description": "x" * 10_000}


@contextmanager
def sqlite_pinned_full():
    """The SQLite database may not grow by a single page inside this block."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")  # no free pages left inside the file to write to
        cursor.execute("PRAGMA page_count")
        (pages,) = cursor.fetchone()
        cursor.execute(f"PRAGMA max_page_count = {pages}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA max_page_count = 1073741823")  # SQLite's default


@pytest.mark.skipif(connection.vendor != "sqlite", reason="fills a SQLite database")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("headers", [{}, {"HTTP_IDEMPOTENCY_KEY": "full-1"}], ids=["fast", "drf"])
def test_ingest_into_a_full_sqlite_database_is_a_507_and_stores_nothing(
    make_token, client, headers
):
    _, secret = make_token("audit:write")

    def post():
        return client.post(
            "/audit/v1/event",
            data=json.dumps(BIG_EVENT),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
            **headers,
        )

    before = AuditEvent.objects.count()
    with sqlite_pinned_full():
        response = post()
    assert response.status_code == 507, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == str(STORAGE_FULL_RETRY_AFTER_SECONDS)
    assert response.json() == {"message": STORAGE_FULL_MESSAGE, "code": "insufficient_storage"}
    assert AuditEvent.objects.count() == before

    # Space is back: the same request (the same Idempotency-Key) is stored, once.
    response = post()
    assert response.status_code == 201, response.content
    assert AuditEvent.objects.filter(action="storage.filled").count() == 1


def _wrapped(cause: Exception) -> OperationalError:
    """The error as Django raises it: its own class, psycopg's or sqlite3's as the cause."""
    try:
        raise OperationalError(str(cause)) from cause
    except OperationalError as error:
        return error


def test_postgresql_disk_full_is_a_507_with_retry_after():
    error = _wrapped(DiskFull("could not extend file: No space left on device"))
    assert storage_full(error)
    response = api_exception_handler(error, {})
    assert response.status_code == 507
    assert response["Retry-After"] == str(STORAGE_FULL_RETRY_AFTER_SECONDS)
    assert response.data == {"message": STORAGE_FULL_MESSAGE, "code": "insufficient_storage"}


def test_other_operational_errors_are_not_storage_full():
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY
    assert not storage_full(_wrapped(locked))
    assert not storage_full(OperationalError("no cause"))
