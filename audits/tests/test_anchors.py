"""
Chain anchors outside the database: a rewind or truncation that leaves the table itself
consistent (done as a database superuser, who can switch any trigger off) is still reported
by verification, through the signed anchor file.
"""

import json
from datetime import timedelta
from unittest.mock import patch

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from audits.anchors import _TAIL_BYTES, AnchorFileInvalid, anchors_read, audit_chain_anchor
from audits.chain import GENESIS_HASH, audit_chain_verify
from audits.models import AuditChainHead, AuditCheckpoint, AuditEvent
from audits.services import audit_event_record, audit_events_expire
from audits.tests.test_chain import trigger_disabled
from integration_site.registry import registry

pytestmark = pytest.mark.django_db


def record(n: int, prefix: str = "e") -> list[AuditEvent]:
    return [audit_event_record(action=f"{prefix}.{i}") for i in range(n)]


def superuser_rewind(*, keep_before: AuditEvent | None = None) -> None:
    """
    What a database superuser can do: remove the trail (from `keep_before` on, or all of it,
    checkpoints too) past the triggers and set the head back, leaving a table that verifies
    on its own. Replica mode lets a superuser's TRUNCATE through; the rest needs the
    triggers switched off.
    """
    to_seq, to_hash = (
        (keep_before.seq - 1, keep_before.prev_hash) if keep_before else (0, GENESIS_HASH)
    )
    postgresql = connection.vendor == "postgresql"
    with transaction.atomic(), connection.cursor() as cursor:
        if postgresql and keep_before is None:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("TRUNCATE audits_auditevent, audits_auditcheckpoint CASCADE")
            cursor.execute("SET LOCAL session_replication_role = origin")
        elif postgresql:
            cursor.execute("ALTER TABLE audits_auditevent DISABLE TRIGGER USER")
            cursor.execute("DELETE FROM audits_auditevent WHERE seq >= %s", [keep_before.seq])
            for name in ("audits_auditevent_no_update_delete", "audits_auditevent_no_truncate"):
                cursor.execute(f"ALTER TABLE audits_auditevent ENABLE ALWAYS TRIGGER {name}")
        else:
            AuditEvent.objects.filter(seq__gte=to_seq + 1).delete()
            if keep_before is None:
                AuditCheckpoint.objects.all().delete()
        if postgresql:
            cursor.execute("ALTER TABLE audits_auditchainhead DISABLE TRIGGER USER")
        AuditChainHead.objects.update(last_seq=to_seq, last_hash=to_hash)
        if postgresql:
            for name in ("audits_auditchainhead_forward_only", "audits_auditchainhead_no_truncate"):
                cursor.execute(f"ALTER TABLE audits_auditchainhead ENABLE ALWAYS TRIGGER {name}")


def test_the_anchor_job_is_registered_with_its_interval():
    job = registry["periodic_jobs"]["audits.tasks.audit_chain_anchor"]
    assert job.every == timedelta(seconds=settings.AUDIT_ANCHOR_INTERVAL_SECONDS)


def test_anchor_appends_the_head_once_per_move():
    events = record(3)
    [first] = audit_chain_anchor()
    assert (first.chain, first.seq, first.hash) == (1, events[-1].seq, events[-1].hash)
    assert audit_chain_anchor() == []  # the head did not move: no line
    record(1)
    audit_chain_anchor()
    lines = settings.AUDIT_ANCHOR_PATH.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [events[-1].seq, events[-1].seq + 1]
    assert [a.seq for a in anchors_read()] == [events[-1].seq, events[-1].seq + 1]
    assert audit_chain_verify().ok


def test_anchoring_reads_only_the_tail_and_the_whole_file_still_verifies():
    # Enough lines that the file outgrows the tail an append reads.
    for _ in range(_TAIL_BYTES // 150 + 10):
        record(1)
        assert audit_chain_anchor() != []
    path = settings.AUDIT_ANCHOR_PATH
    assert path.stat().st_size > _TAIL_BYTES
    anchors = anchors_read()
    first = anchors[0].seq
    assert [a.seq for a in anchors] == list(range(first, first + len(anchors)))
    assert audit_chain_verify().ok
    # An edit far behind the tail: appending goes on (it reads only the tail), and
    # verification, which reads the whole file, reports the edited line.
    lines = path.read_text().splitlines()
    edited = json.loads(lines[0]) | {"hash": "e" * 64}
    path.write_text("\n".join([json.dumps(edited), *lines[1:]]) + "\n")
    record(1)
    assert audit_chain_anchor() != []
    result = audit_chain_verify()
    assert not result.ok
    assert "line 1 of" in result.message
    path.write_text("\n".join(lines) + "\n")
    record(1)
    assert audit_chain_anchor() != []
    # A forged last line is refused by the next append as by verification.
    lines = path.read_text().splitlines()
    forged = json.loads(lines[-1]) | {"hash": "f" * 64}
    path.write_text("\n".join([*lines[:-1], json.dumps(forged)]) + "\n")
    record(1)
    with pytest.raises(AnchorFileInvalid, match="bad signature"):
        audit_chain_anchor()
    assert len(path.read_text().splitlines()) == len(lines)


def test_a_rewind_and_truncate_is_reported_through_the_anchors():
    events = record(4)
    audit_chain_anchor()
    superuser_rewind()
    assert AuditEvent.objects.count() == 0
    result = audit_chain_verify()
    assert not result.ok
    assert "rewound or truncated" in result.message
    assert f"records seq {events[-1].seq}" in result.message
    with pytest.raises(CommandError, match="rewound or truncated"):
        call_command("audit_verify")


def test_a_rewind_appended_again_is_reported_at_the_anchored_seq():
    events = record(3)
    audit_chain_anchor()
    superuser_rewind(keep_before=events[0])
    # New history over the old seqs: the table verifies on its own, and runs past the anchor.
    replacement = record(5, "forged")
    assert replacement[2].seq == events[2].seq
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_seq == events[-1].seq
    assert "rewritten" in result.message


def test_an_edited_anchor_line_is_reported():
    record(2)
    audit_chain_anchor()
    path = settings.AUDIT_ANCHOR_PATH
    line = json.loads(path.read_text())
    line["seq"] = 1  # a rewinder hiding the later anchor
    path.write_text(json.dumps(line) + "\n")
    result = audit_chain_verify()
    assert not result.ok
    assert "bad signature" in result.message


def test_a_removed_anchor_line_is_reported():
    record(1)
    audit_chain_anchor()
    record(1)
    audit_chain_anchor()
    record(1)
    audit_chain_anchor()
    path = settings.AUDIT_ANCHOR_PATH
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    result = audit_chain_verify()
    assert not result.ok
    assert "line 2" in result.message and "bad signature" in result.message


def test_retention_behind_the_anchors_still_verifies():
    then = timezone.now() - timedelta(days=100)
    with trigger_disabled():  # events the migrations recorded belong to the old prefix
        AuditEvent.objects.update(received_at=then)
    with patch("django.utils.timezone.now", return_value=then):
        record(3, "old")
        audit_chain_anchor()  # an anchor of events retention will remove
    record(2, "recent")
    audit_chain_anchor()
    audit_events_expire(days=30)
    audit_chain_anchor()
    result = audit_chain_verify()
    assert result.ok, result.message
    assert len(anchors_read()) == 3
    assert AuditCheckpoint.objects.get().seq >= anchors_read()[0].seq  # an anchor expired
