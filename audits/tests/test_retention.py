"""Retention checkpoints: vouched for inside the chain, and append-only on PostgreSQL."""

from datetime import timedelta
from unittest.mock import patch

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audits.chain import audit_chain_verify
from audits.models import AuditCheckpoint, AuditEvent, AuditSource
from audits.services import audit_event_record
from audits.tests.test_chain import trigger_disabled

pytestmark = pytest.mark.django_db


def record(n: int, prefix: str) -> list[AuditEvent]:
    return [audit_event_record(action=f"{prefix}.{i}") for i in range(n)]


@pytest.fixture
def expired_chain() -> list[AuditEvent]:
    """A chain whose first events audits_expire removed; returns the events left."""
    then = timezone.now() - timedelta(days=100)
    with trigger_disabled():  # events the migrations recorded belong to the old prefix
        AuditEvent.objects.update(received_at=then)
    with patch("django.utils.timezone.now", return_value=then):
        record(3, "old")
    record(2, "recent")
    call_command("audits_expire", "--days", "30")
    assert audit_chain_verify().ok
    return list(AuditEvent.objects.order_by("seq"))


def _delete_outside_retention(event: AuditEvent) -> None:
    # What the tables' owner could do: switch the trigger off and delete.
    with trigger_disabled(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audits_auditevent WHERE id = %s", [event.pk])


def test_the_expiry_event_records_the_checkpoint_it_left(expired_chain):
    checkpoint = AuditCheckpoint.objects.get()
    expiry = AuditEvent.objects.get(action="audit.expire")
    assert expiry.audited_changes["through_seq"] == checkpoint.seq
    assert expiry.audited_changes["checkpoint_hash"] == checkpoint.hash
    assert expired_chain[0].prev_hash == checkpoint.hash


def test_a_checkpoint_no_expiry_vouches_for_is_reported(expired_chain):
    first = expired_chain[0]
    _delete_outside_retention(first)
    AuditCheckpoint.objects.create(seq=first.seq, hash=first.hash, removed_count=1)
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_seq == first.seq + 1
    assert f"checkpoint at seq {first.seq} is not recorded" in result.message


def test_an_expiry_record_naming_another_hash_does_not_vouch(expired_chain):
    first = expired_chain[0]
    _delete_outside_retention(first)
    audit_event_record(
        action="audit.expire",
        source=AuditSource.SYSTEM,
        audited_changes={"removed": 1, "through_seq": first.seq, "checkpoint_hash": "f" * 64},
    )
    AuditCheckpoint.objects.create(seq=first.seq, hash=first.hash, removed_count=1)
    result = audit_chain_verify()
    assert not result.ok
    assert "not recorded by any audit.expire event" in result.message


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audits_auditcheckpoint SET hash = repeat('0', 64)",
        "DELETE FROM audits_auditcheckpoint",
    ],
)
def test_checkpoints_cannot_be_rewritten_or_removed(statement):
    AuditCheckpoint.objects.create(seq=1, hash="a" * 64, removed_count=1)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditCheckpoint.objects.get().hash == "a" * 64
