"""
Retention in batches (`audit_events_expire(batch_size=...)`): each batch is its own
transaction under the chain-head lock, writes its checkpoint and records the `audit.expire`
vouching for it, so the chain verifies after any batch, a run stopped between batches
included, and appends are not held up for the whole prefix.
"""

import io
import math
import threading
from datetime import timedelta
from unittest.mock import patch

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audits import services
from audits.chain import audit_chain_verify
from audits.context import audit_context
from audits.models import AuditCheckpoint, AuditEvent
from audits.services import audit_event_record, audit_events_expire
from audits.tests.test_chain import trigger_disabled

BATCH = 3


def _old_prefix(n: int) -> int:
    """
    Age every stored event (which breaks their hashes: they must all be expired before the
    chain is verified), add `n` old ones and two recent: returns the prefix's length.
    """
    then = timezone.now() - timedelta(days=100)
    with trigger_disabled():  # events the migrations recorded belong to the old prefix
        AuditEvent.objects.update(received_at=then)
    with patch("django.utils.timezone.now", return_value=then):
        for i in range(n):
            audit_event_record(action=f"old.{i}")
    old = AuditEvent.objects.count()
    for i in range(2):
        audit_event_record(action=f"recent.{i}")
    return old


def _verify() -> None:
    result = audit_chain_verify()
    assert result.ok, result.message
    out = io.StringIO()
    call_command("audit_verify", stdout=out)  # raises CommandError on a broken chain
    assert out.getvalue().startswith("verified "), out.getvalue()


@pytest.mark.django_db
def test_a_prefix_of_several_batches_leaves_one_vouched_checkpoint_each_and_verifies():
    old = _old_prefix(8)
    with audit_context():
        result = audit_events_expire(days=30, batch_size=BATCH)

    assert result.removed == old
    assert not AuditEvent.objects.filter(action__startswith="old.").exists()
    checkpoints = list(AuditCheckpoint.objects.order_by("seq"))
    assert len(checkpoints) == math.ceil(old / BATCH)
    assert all(c.removed_count <= BATCH for c in checkpoints)
    assert sum(c.removed_count for c in checkpoints) == old
    assert result.through_seq == checkpoints[-1].seq
    vouched = {
        (changes["through_seq"], changes["checkpoint_hash"])
        for changes in AuditEvent.objects.filter(action="audit.expire").values_list(
            "audited_changes", flat=True
        )
    }
    assert vouched == {(c.seq, c.hash) for c in checkpoints}
    _verify()


@pytest.mark.django_db(transaction=True)  # each batch commits: no test transaction around them
def test_a_run_stopped_between_batches_leaves_a_verifiable_chain_and_releases_the_lock():
    # One batch takes exactly the events aged by _old_prefix (their hashes no longer match):
    # every batch after it removes events stored old, so the chain left after each verifies.
    size = max(AuditEvent.objects.count(), 1)
    old = _old_prefix(3 * size)
    batch = services._expire_batch
    calls = []
    appended = []

    def append_from_another_connection():
        try:
            audit_event_record(action="appended.between.batches")
            appended.append(True)
        finally:
            connection.close()

    def batch_then_crash(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            # Between batches the lock is free: another connection appends at once.
            thread = threading.Thread(target=append_from_another_connection)
            thread.start()
            thread.join(timeout=10)
            assert appended, "an append waited on the lock between batches"
        if len(calls) == 3:
            raise RuntimeError("the process died")
        return batch(**kwargs)

    with (
        patch.object(services, "_expire_batch", batch_then_crash),
        audit_context(),
        pytest.raises(RuntimeError),
    ):
        audit_events_expire(days=30, batch_size=size)

    assert AuditCheckpoint.objects.count() == 2
    assert AuditEvent.objects.filter(action__startswith="old.").exists()
    _verify()

    with audit_context():
        result = audit_events_expire(days=30, batch_size=size)
    assert result.removed == old - 2 * size
    assert not AuditEvent.objects.filter(action__startswith="old.").exists()
    assert AuditEvent.objects.filter(action="appended.between.batches").exists()
    _verify()
