"""integration_site.row_insert: rows stored exactly as Model.save() stores them, errors Django's."""

import pytest
from django.db import IntegrityError, connection, transaction

from audits.models import AuditEvent, AuditSource
from audits.services import audit_event_build
from integration_site.row_insert import rows_insert_each
from monitoring.models import AcceptedResult

pytestmark = pytest.mark.django_db


def _stored(model, pk) -> dict:
    row = model.objects.get(pk=pk)
    return {
        f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields if not f.primary_key
    }


def test_rows_match_what_save_stores():
    def event():
        return audit_event_build(
            source=AuditSource.INTEGRATION,
            action="user.login",
            description="line one\nline two\x1b[31m",
            remote_address="2001:db8::1",
            metadata={"nested": {"list": [1, "two", None]}},
            is_failure=True,
        )

    saved, inserted = event(), event()
    inserted.received_at = inserted.created_at = saved.received_at = saved.created_at
    inserted.request_uuid = saved.request_uuid
    saved.save()
    rows_insert_each([inserted])

    assert inserted.pk is not None and inserted.pk != saved.pk
    assert not inserted._state.adding
    assert _stored(AuditEvent, inserted.pk) == _stored(AuditEvent, saved.pk)


def test_each_row_gets_its_own_primary_key_and_defaults():
    rows = [AcceptedResult(client_name=f"c{i}", check_data={"name": "x", "i": i}) for i in range(3)]
    rows_insert_each(rows)
    stored = {r.pk: r for r in AcceptedResult.objects.all()}
    assert sorted(stored) == sorted(r.pk for r in rows)
    for row in rows:
        assert stored[row.pk].check_data == row.check_data
        assert stored[row.pk].accepted_at is not None


def test_database_errors_are_djangos():
    broken = AcceptedResult(client_name="c", check_data=None)  # NOT NULL
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert_each([broken])
    assert not AcceptedResult.objects.exists()
    assert connection.is_usable()


def _prepared_inserts() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            [f'INSERT INTO "{AcceptedResult._meta.db_table}"%'],
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres
def test_inserts_are_prepared_once_per_connection():
    connection.ensure_connection()
    before = _prepared_inserts()  # other tests on this connection may have prepared it
    for i in range(3):
        rows_insert_each([AcceptedResult(client_name=f"c{i}", check_data={"name": "x"})])
    assert AcceptedResult.objects.count() == 3
    assert _prepared_inserts() >= 1
    assert _prepared_inserts() - before <= 1


@pytest.mark.postgres
def test_inserts_are_not_prepared_when_switched_off():
    connection.ensure_connection()
    threshold = connection.connection.prepare_threshold
    # What DATABASE_PREPARE_INSERTS=0 configures (integration_site/tests/test_settings.py checks the setting).
    connection.connection.prepare_threshold = None
    try:
        before = _prepared_inserts()
        rows_insert_each([AcceptedResult(client_name="c", check_data={"name": "x"})])
        assert AcceptedResult.objects.count() == 1
        assert _prepared_inserts() == before
    finally:
        connection.connection.prepare_threshold = threshold
