"""
A chain per project: each project's events link into their own chain under their own head,
verification walks every chain, retention removes each chain's prefix with its own
checkpoint, anchors name their chain, the counters roll each chain up, and two projects'
links do not wait on each other (PostgreSQL, with a second real connection).
"""

import json
import threading
from datetime import datetime, timedelta
from unittest.mock import patch

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audits.anchors import anchors_read, audit_chain_anchor
from audits.chain import audit_chain_verify, chain_link_pending, chain_of_project
from audits.counters import audit_counts_roll_up, audit_counts_since
from audits.models import AuditChainHead, AuditCheckpoint, AuditEvent
from audits.services import audit_event_build, audit_events_append, audit_events_expire
from audits.tests.test_chain import trigger_disabled

ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
postgresql_only = pytest.mark.skipif(not ON_POSTGRESQL, reason="locks of a second connection")
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def anchor_file(tmp_path, settings):
    settings.AUDIT_ANCHOR_PATH = tmp_path / "anchors.jsonl"


def stored(project: str, count: int, *, link: bool = True, received: datetime | None = None):
    events = []
    for index in range(count):
        event = audit_event_build(
            action=f"{project}.{index}",
            description=f"{project} event {index}",
            received_at=received,
        )
        event.project = project
        events.append(event)
    if received is not None:
        with patch("django.utils.timezone.now", return_value=received):
            return audit_events_append(events, link=link)
    return audit_events_append(events, link=link)


def chain_of(project: str) -> int:
    return AuditChainHead.objects.get(project=project).id


def test_each_project_links_its_own_chain_from_seq_one():
    default = stored("default", 3)
    acme = stored("acme", 2)
    globex = stored("globex", 2)
    acme += stored("acme", 1)
    assert [e.chain for e in default] == [1, 1, 1]
    assert {e.chain for e in acme} == {chain_of("acme")} != {1}
    assert chain_of("globex") not in (1, chain_of("acme"))
    # Each chain counts from its own start and links to its own previous event.
    assert [e.seq for e in acme] == [1, 2, 3]
    assert [e.seq for e in globex] == [1, 2]
    assert acme[0].prev_hash == "0" * 64 and acme[2].prev_hash == acme[1].hash
    assert AuditChainHead.objects.get(project="acme").last_hash == acme[-1].hash
    result = audit_chain_verify()
    assert result.ok, result.message
    assert result.message.endswith("in 3 chains")
    assert result.verified == AuditEvent.objects.count()


def test_a_chain_is_made_once_per_project_and_never_reused():
    first = chain_of_project("acme")
    assert chain_of_project("acme") == first
    assert chain_of_project("globex") == first + 1
    assert chain_of_project("default") == 1


def test_a_batch_over_two_projects_links_each_into_its_chain():
    events = [audit_event_build(action=f"mixed.{i}") for i in range(4)]
    events[1].project = events[3].project = "acme"
    audit_events_append(events)
    acme = chain_of("acme")
    assert [(e.chain, e.seq) for e in events][1::2] == [(acme, 1), (acme, 2)]
    assert events[3].prev_hash == events[1].hash
    assert audit_chain_verify().ok


def test_pending_events_link_into_their_projects_chains():
    stored("default", 1)
    default_end = AuditChainHead.objects.get(pk=1).last_seq
    pending = stored("acme", 2, link=False) + stored("default", 1, link=False)
    assert all(e.seq is None for e in pending)
    assert chain_link_pending() == 3
    linked = {
        e.pk: (e.chain, e.seq) for e in AuditEvent.objects.filter(pk__in=[e.pk for e in pending])
    }
    assert linked == {
        pending[0].pk: (chain_of("acme"), 1),
        pending[1].pk: (chain_of("acme"), 2),
        pending[2].pk: (1, default_end + 1),
    }
    assert audit_chain_verify().ok


def test_an_edit_in_a_project_chain_is_reported_with_its_chain():
    stored("default", 2)
    acme = stored("acme", 3)
    with trigger_disabled():
        AuditEvent.objects.filter(pk=acme[1].pk).update(description="rewritten")
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_chain == chain_of("acme")
    assert result.broken_seq == 2 and result.broken_id == acme[1].pk
    assert result.message.startswith(
        f"Chain {chain_of('acme')} (project 'acme'): Chain broken at seq 2"
    )
    assert result.as_dict()["broken_chain"] == chain_of("acme")


def test_an_event_moved_to_another_chain_breaks_both():
    stored("default", 2)
    acme = stored("acme", 2)
    with trigger_disabled():
        AuditEvent.objects.filter(pk=acme[0].pk).update(chain=1)
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_chain == 1  # the default chain, walked first, has a foreign seq 1


def test_a_checkpoint_forged_for_a_project_chain_does_not_verify():
    stored("acme", 3)
    acme = chain_of("acme")
    with trigger_disabled():
        AuditEvent.objects.filter(chain=acme, seq=1).delete()
    if ON_POSTGRESQL:
        _checkpoint_planted(acme)  # past the checkpoint trigger, as the tables' owner
    else:
        AuditCheckpoint.objects.create(
            chain=acme,
            seq=1,
            hash=AuditEvent.objects.get(chain=acme, seq=2).prev_hash,
            removed_count=1,
        )
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_chain == acme
    assert "not recorded by any audit.expire" in result.message


def _checkpoint_planted(chain: int) -> None:
    """As the tables' owner, past the checkpoint trigger."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audits_auditcheckpoint DISABLE TRIGGER USER")
        cursor.execute(
            "INSERT INTO audits_auditcheckpoint (chain, seq, hash, removed_count, created_at)"
            " SELECT chain, 1, prev_hash, 1, now() FROM audits_auditevent"
            " WHERE chain = %s AND seq = 2",
            [chain],
        )
        for name in (
            "audits_auditcheckpoint_no_update_delete",
            "audits_auditcheckpoint_no_truncate",
        ):
            cursor.execute(f"ALTER TABLE audits_auditcheckpoint ENABLE ALWAYS TRIGGER {name}")


def test_retention_removes_each_chains_prefix_with_its_own_checkpoint():
    old = timezone.now() - timedelta(days=40)
    old_default = stored("default", 2, received=old)
    old_acme = stored("acme", 3, received=old)
    with trigger_disabled():  # the events the migrations recorded are older still
        AuditEvent.objects.exclude(pk__in=[e.pk for e in old_default + old_acme]).update(
            received_at=old - timedelta(days=1)
        )
    kept = stored("acme", 1) + stored("default", 1)
    audit_counts_roll_up()
    audit_events_expire(days=30)
    assert set(AuditEvent.objects.filter(action__endswith=".0").values_list("pk", flat=True)) == {
        kept[0].pk,
        kept[1].pk,
    }
    acme = chain_of("acme")
    checkpoint = AuditCheckpoint.objects.get(chain=acme)
    assert (checkpoint.seq, checkpoint.hash) == (3, old_acme[-1].hash)
    assert checkpoint.removed_count == 3
    # Each removal is recorded in the default chain, naming the chain it removed from.
    records = [e.audited_changes for e in AuditEvent.objects.filter(action="audit.expire", chain=1)]
    assert {
        "removed": 3,
        "through_seq": 3,
        "chain": acme,
        "checkpoint_hash": old_acme[-1].hash,
    } in (records)
    result = audit_chain_verify()
    assert result.ok, result.message
    # The counters hold what is left, per chain.
    audit_counts_roll_up()
    assert (
        sum(audit_counts_since(old - timedelta(days=2)).counts.values())
        == AuditEvent.objects.count()
    )


def test_anchors_record_each_chain_and_an_edited_line_or_a_rewound_chain_is_reported():
    [*_, last_default] = stored("default", 2)
    stored("acme", 2)
    written = audit_chain_anchor()
    assert [(a.chain, a.seq) for a in written] == [(1, last_default.seq), (chain_of("acme"), 2)]
    assert audit_chain_anchor() == []  # nothing moved
    stored("acme", 1)
    assert [(a.chain, a.seq) for a in audit_chain_anchor()] == [(chain_of("acme"), 3)]
    assert [(a.chain, a.seq) for a in anchors_read()] == [
        (1, last_default.seq),
        (chain_of("acme"), 2),
        (chain_of("acme"), 3),
    ]
    assert audit_chain_verify().ok
    # A line's chain is signed: moving an anchor to another chain breaks its signature.
    path = settings.AUDIT_ANCHOR_PATH
    lines = path.read_text().splitlines()
    moved = json.loads(lines[1]) | {"chain": 1}
    path.write_text("\n".join([lines[0], json.dumps(moved), lines[2]]) + "\n")
    result = audit_chain_verify()
    assert not result.ok and "bad signature" in result.message
    path.write_text("\n".join(lines) + "\n")
    # The project's chain rewound behind its anchor (its last event deleted, head put back).
    with trigger_disabled(), connection.cursor() as cursor:
        AuditEvent.objects.filter(chain=chain_of("acme"), seq=3).delete()
        if ON_POSTGRESQL:
            cursor.execute("ALTER TABLE audits_auditchainhead DISABLE TRIGGER USER")
        AuditChainHead.objects.filter(project="acme").update(last_seq=2)
        if ON_POSTGRESQL:
            for name in ("audits_auditchainhead_forward_only", "audits_auditchainhead_no_truncate"):
                cursor.execute(f"ALTER TABLE audits_auditchainhead ENABLE ALWAYS TRIGGER {name}")
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_chain == chain_of("acme")
    assert "Chain rewound or truncated" in result.message


def test_the_counters_roll_up_every_chain_and_the_tail_of_each():
    stored("default", 2)
    stored("acme", 3)
    since = timezone.now() - timedelta(days=1)
    assert sum(audit_counts_since(since).counts.values()) == AuditEvent.objects.count()
    audit_counts_roll_up()
    stored("acme", 1)  # after acme's watermark
    stored("globex", 1, link=False)  # a new chain's pending event
    assert sum(audit_counts_since(since).counts.values()) == AuditEvent.objects.count()
    chain_link_pending()
    audit_counts_roll_up()
    assert sum(audit_counts_since(since).counts.values()) == AuditEvent.objects.count()


# --- Two projects at once (PostgreSQL, a second connection) -------------------------------


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_project_appends_while_another_projects_chain_is_locked(other_connection):
    stored("acme", 1)
    acme = chain_of("acme")
    holder = other_connection()
    holder.execute("BEGIN")
    holder.execute("SELECT 1 FROM audits_auditchainhead WHERE id = %s FOR UPDATE", [acme])
    try:
        # The default chain does not wait for acme's head: a wait would hit the lock timeout.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")
            [event] = stored("default", 1)
        assert event.chain == 1 and event.seq is not None
        # acme's own appends do wait for it.
        with pytest.raises(DatabaseError, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
            stored("acme", 1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert audit_chain_verify().ok


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_workers_tick_links_the_chains_no_other_worker_holds(other_connection):
    stored("default", 1)
    stored("acme", 1)
    acme = chain_of("acme")
    pending = stored("acme", 2, link=False) + stored("default", 2, link=False)
    holder = other_connection()  # another worker, linking acme now
    holder.execute("BEGIN")
    holder.execute("SELECT 1 FROM audits_auditchainhead WHERE id = %s FOR UPDATE", [acme])
    try:
        done = threading.Event()

        def tick() -> None:
            try:
                assert chain_link_pending(skip_locked=True) == 2  # the default chain's two
            finally:
                connection.close()
                done.set()

        worker = threading.Thread(target=tick)
        worker.start()
        assert done.wait(10), "the tick waited for the chain another worker holds"
        worker.join()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    states = dict(
        AuditEvent.objects.filter(pk__in=[e.pk for e in pending]).values_list("pk", "seq")
    )
    assert [states[e.pk] is None for e in pending] == [True, True, False, False]
    assert chain_link_pending() == 2
    assert audit_chain_verify().ok


@postgresql_only
def test_a_head_can_be_inserted_only_empty():
    with pytest.raises(DatabaseError, match="only moves forward"), transaction.atomic():
        AuditChainHead.objects.create(id=50, project="forged", last_seq=7, last_hash="a" * 64)
    with transaction.atomic():
        AuditChainHead.objects.create(id=51, project="fresh")
    with pytest.raises(DatabaseError, match="only moves forward"), transaction.atomic():
        AuditChainHead.objects.filter(id=51).update(project="another")
