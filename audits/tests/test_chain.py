"""Append-only storage, the hash chain under concurrency, tampering, verification, retention."""

import re
import threading
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audits.chain import audit_chain_verify
from audits.models import AuditCheckpoint, AuditEvent
from audits.services import audit_event_record

pytestmark = pytest.mark.django_db


def record(n: int, prefix: str = "test") -> list[AuditEvent]:
    return [audit_event_record(action=f"{prefix}.{i}", description=f"event {i}") for i in range(n)]


@contextmanager
def trigger_disabled():
    """Tamper as a table owner would: switch the append-only trigger off (PostgreSQL)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audits_auditevent DISABLE TRIGGER USER")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name in ("audits_auditevent_no_update_delete", "audits_auditevent_no_truncate"):
                cursor.execute(f"ALTER TABLE audits_auditevent ENABLE ALWAYS TRIGGER {name}")


# --- Append-only on PostgreSQL --------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audits_auditevent SET description = 'edited'",
        "DELETE FROM audits_auditevent",
    ],
)
def test_update_and_delete_are_rejected_by_trigger(statement):
    record(2)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEvent.objects.count() >= 2


@pytest.mark.postgres
def test_orm_update_is_rejected_by_trigger():
    (event,) = record(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="edited")


@pytest.mark.postgres
def test_truncate_is_rejected_by_trigger():
    record(1)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE audits_auditevent CASCADE")


@pytest.mark.postgres
def test_replica_mode_does_not_bypass_the_trigger():
    (event,) = record(1)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM audits_auditevent WHERE id = %s", [event.pk])


# --- Tamper evidence ------------------------------------------------------------------


def test_intact_chain_verifies():
    record(5)
    result = audit_chain_verify()
    assert result.ok
    assert result.message == f"verified {AuditEvent.objects.count()} events"


def test_edited_row_is_caught_naming_the_row():
    events = record(5)
    victim = events[2]
    with trigger_disabled():
        AuditEvent.objects.filter(pk=victim.pk).update(description="nothing happened here")
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_id == victim.pk
    assert f"event id {victim.pk}" in result.message
    assert "edited" in result.message


def test_edited_and_rehashed_row_is_caught_at_the_next_link():
    events = record(4)
    victim, follower = events[1], events[2]
    victim.description = "forged"
    from audits.chain import link_hash

    forged_hash = link_hash(victim.prev_hash, victim)
    with trigger_disabled():
        AuditEvent.objects.filter(pk=victim.pk).update(description="forged", hash=forged_hash)
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_id == follower.pk


def test_deleted_row_is_caught():
    events = record(5)
    with trigger_disabled():
        AuditEvent.objects.filter(pk=events[1].pk).delete()
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_seq == events[1].seq
    assert "missing" in result.message


def test_deleted_tail_is_caught():
    events = record(3)
    with trigger_disabled():
        AuditEvent.objects.filter(pk=events[-1].pk).delete()
    result = audit_chain_verify()
    assert not result.ok
    assert "trailing" in result.message


def test_reordered_rows_are_caught():
    events = record(4)
    a, b = events[1], events[2]
    with trigger_disabled():
        # Swap their positions in the chain (seq is unique: go through a free value).
        AuditEvent.objects.filter(pk=a.pk).update(seq=-1)
        AuditEvent.objects.filter(pk=b.pk).update(seq=a.seq)
        AuditEvent.objects.filter(pk=a.pk).update(seq=b.seq)
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_id == b.pk


def test_audit_verify_command_reports_count_or_broken_row(capsys):
    events = record(3)
    call_command("audit_verify")
    assert f"verified {AuditEvent.objects.count()} events" in capsys.readouterr().out
    with trigger_disabled():
        AuditEvent.objects.filter(pk=events[0].pk).update(action="forged")
    with pytest.raises(CommandError, match=f"event id {events[0].pk}"):
        call_command("audit_verify")


def test_verify_api_requires_verify_scope(token_client):
    record(2)
    assert token_client("audit:read").get("/audit/v1/verify").status_code == 403
    response = token_client("audit:verify").get("/audit/v1/verify")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["message"] == f"verified {body['verified']} events"


def test_verify_api_names_the_broken_row(token_client):
    events = record(3)
    with trigger_disabled():
        AuditEvent.objects.filter(pk=events[1].pk).update(title="forged")
    body = token_client("audit:verify").get("/audit/v1/verify").json()
    assert body["ok"] is False
    assert body["broken_id"] == events[1].pk


# --- Concurrent writers ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_leave_no_gaps_or_forks():
    writers, per_writer = 6, 20
    barrier = threading.Barrier(writers)
    failures = []

    def write(n: int):
        try:
            barrier.wait()
            for i in range(per_writer):
                audit_event_record(action=f"writer{n}.{i}")
        except Exception as exc:  # surfaced by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert len(seqs) >= writers * per_writer
    hashes = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(hashes) == len(set(hashes)), "two events link to the same predecessor (a fork)"
    result = audit_chain_verify()
    assert result.ok, result.message


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_bulk_and_single_writers_interleave_cleanly(make_token):
    from rest_framework.test import APIClient

    _, secret = make_token("audit:write")
    failures = []

    def bulk(n: int):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        try:
            for _ in range(3):
                events = [{"action": f"bulk{n}.{i}"} for i in range(50)]
                response = client.post("/audit/v1/event/bulk", {"events": events}, format="json")
                if response.status_code != 201:
                    failures.append(response.content)
        finally:
            connection.close()

    def single(n: int):
        try:
            for i in range(30):
                audit_event_record(action=f"single{n}.{i}")
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=bulk, args=(n,)) for n in range(2)]
    threads += [threading.Thread(target=single, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert AuditEvent.objects.filter(action__startswith="bulk").count() == 300
    result = audit_chain_verify()
    assert result.ok, result.message


# --- Retention --------------------------------------------------------------------------


def _age_existing_events() -> None:
    """Events stored before the test (by migrations) count as old, so they form the prefix."""
    with trigger_disabled():
        AuditEvent.objects.update(received_at=timezone.now() - timedelta(days=365))


def record_days_ago(days: int, n: int, prefix: str) -> list[AuditEvent]:
    then = timezone.now() - timedelta(days=days)
    with patch("django.utils.timezone.now", return_value=then):
        return record(n, prefix)


def test_audits_expire_removes_old_prefix_and_chain_still_verifies(capsys):
    _age_existing_events()
    old = record_days_ago(100, 4, "old")
    recent = record(2, "recent")
    call_command("audits_expire", "--days", "30")
    assert re.search(r"Removed \d+ audit events", capsys.readouterr().out)
    remaining = set(AuditEvent.objects.values_list("action", flat=True))
    assert not any(action.startswith("old") for action in remaining)
    assert {"recent.0", "recent.1", "audit.expire"} <= remaining
    checkpoint = AuditCheckpoint.objects.get()
    assert checkpoint.seq == old[-1].seq
    assert checkpoint.hash == old[-1].hash
    assert checkpoint.removed_count >= 4
    result = audit_chain_verify()
    assert result.ok, result.message
    assert result.verified == AuditEvent.objects.count()
    expiry = AuditEvent.objects.get(action="audit.expire")
    assert expiry.audited_changes["removed"] == checkpoint.removed_count
    assert expiry.actor_type == "System"
    assert recent[0].pk in set(AuditEvent.objects.values_list("pk", flat=True))


def test_audits_expire_keeps_events_after_a_recent_one():
    # Only a prefix goes: an old event after a recent one stays, so the chain still links.
    _age_existing_events()
    record_days_ago(100, 1, "first")
    record(1, "middle")
    record_days_ago(100, 1, "last")
    call_command("audits_expire", "--days", "30")
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert "first.0" not in actions
    assert {"middle.0", "last.0"} <= actions
    assert audit_chain_verify().ok


def test_audits_expire_twice_and_nothing_to_expire():
    _age_existing_events()
    record_days_ago(100, 2, "old")
    call_command("audits_expire", "--days", "30")
    call_command("audits_expire", "--days", "30")
    assert AuditCheckpoint.objects.count() == 1
    assert AuditEvent.objects.filter(action="audit.expire").count() == 2
    assert audit_chain_verify().ok


def test_audits_expire_rejects_bad_days():
    with pytest.raises(CommandError):
        call_command("audits_expire", "--days", "0")


@pytest.mark.postgres
def test_the_old_expire_setting_no_longer_opens_a_delete():
    events = record(3)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT set_config('audits.expire_through_seq', %s, true)", [str(events[0].seq)]
        )
        cursor.execute("DELETE FROM audits_auditevent WHERE id = %s", [events[0].pk])


# --- Numbers as jsonb returns them ------------------------------------------------------


@pytest.mark.postgres
def test_site_audited_changes_with_floats_verify_after_jsonb():
    # The site's own auditing stores model values (FloatField, DecimalField as text) in
    # audited_changes through a linked append: its hash is of the in-memory value, the
    # verification's of the value jsonb gives back.
    changes = {
        "ratio": [1e16, -0.0],
        "tiny": 1.5e-7,
        "huge": -1.7976931348623157e308,
        "whole": 2.0,
        "price": "12.50",
        "nested": {"list": [1e22, {"z": -0.0}]},
    }
    audit_event_record(action="model.update", audited_changes=changes)
    audit_event_record(action="model.update", fields={"n": 1e16}, metadata={"m": -0.0})
    result = audit_chain_verify()
    assert result.ok, result.message
    assert AuditEvent.objects.filter(action="model.update", seq__isnull=False).count() == 2
    stored = AuditEvent.objects.get(action="model.update", fields={})
    assert stored.audited_changes["ratio"] == [10**16, 0.0]  # jsonb's numeric, read back
