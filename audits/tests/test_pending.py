"""
Pending events: single-event ingest stores events without the chain lock; the worker's tick,
verification, retention and every linked append link them. The trigger allows exactly that.
"""

import io
import ipaddress
import json
import threading

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client

from audits.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    audit_chain_verify,
    canonical,
    chain_link_pending,
    link_hash,
)
from audits.models import AuditChainHead, AuditEvent
from audits.services import (
    COPY_MIN_EVENTS,
    audit_event_build,
    audit_event_record,
    audit_events_append,
)

pytestmark = pytest.mark.django_db

URL = "/audit/v1/event"
BULK_URL = "/audit/v1/event/bulk"


@pytest.fixture
def writer(token_client):
    return token_client("audit:write")


def post(client, data, url=URL):
    return client.generic("POST", url, json.dumps(data), content_type="application/json")


def pending():
    return AuditEvent.objects.filter(seq__isnull=True)


def store_pending(n: int, prefix: str = "pending") -> list[AuditEvent]:
    return audit_events_append(
        [audit_event_build(action=f"{prefix}.{i}") for i in range(n)], link=False
    )


@pytest.mark.django_db(transaction=True)
def test_single_post_is_stored_pending_then_linked_by_the_worker_tick(writer):
    response = post(writer, {"action": "user.login", "ip_address": "2001:db8:0::1"})
    assert response.status_code == 201
    event = AuditEvent.objects.get(pk=response["X-Audit-Event-Id"])
    assert (event.seq, event.prev_hash, event.hash) == (None, None, None)
    assert event.remote_address == "2001:db8::1"

    call_command("worker", "--once", stdout=io.StringIO())

    event.refresh_from_db()
    assert event.seq is not None
    assert event.hash == link_hash(event.prev_hash, event)
    assert not pending().exists()
    assert audit_chain_verify().ok


def test_bulk_and_linked_appends_are_linked_at_once(writer):
    response = post(writer, {"events": [{"action": "a"}, {"action": "b"}]}, BULK_URL)
    assert response.status_code == 201
    assert all(item["hash"] for item in response.json())
    assert audit_event_record(action="site.thing").hash
    assert not pending().exists()


def test_chain_link_pending_links_in_id_order_in_batches():
    events = store_pending(7)
    head = AuditChainHead.objects.get(pk=1)
    assert chain_link_pending(limit=3) == 7
    linked = list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("id"))
    assert [e.seq for e in linked] == list(range(head.last_seq + 1, head.last_seq + 8))
    prev = head.last_hash
    for event in linked:
        assert event.prev_hash == prev
        prev = event.hash
    assert AuditChainHead.objects.get(pk=1).last_hash == prev
    assert chain_link_pending() == 0
    assert audit_chain_verify().ok


def test_a_large_pending_batch_is_stored_pending_then_linked_in_id_order():
    # From COPY_MIN_EVENTS a batch is stored by COPY on PostgreSQL, pending ones included
    # (Retraced's bulk publish): NULL chain columns, every value as built, linked later.
    events = store_pending(COPY_MIN_EVENTS + 5, prefix="copied")
    stored = list(pending().order_by("id"))
    assert [e.pk for e in stored] == sorted(e.pk for e in events)
    assert [e.action for e in stored] == [f"copied.{i}" for i in range(COPY_MIN_EVENTS + 5)]
    assert all((e.seq, e.prev_hash, e.hash) == (None, None, None) for e in stored)
    assert chain_link_pending() == COPY_MIN_EVENTS + 5
    result = audit_chain_verify()
    assert result.ok, result.message


def test_a_linked_append_links_visible_pending_events_first():
    (early,) = store_pending(1)
    late = audit_event_record(action="linked.after")
    early.refresh_from_db()
    assert early.seq is not None and late.seq == early.seq + 1
    assert late.prev_hash == early.hash


def test_versioned_events_are_linked_even_when_link_false():
    event = audit_events_append(
        [audit_event_build(action="create", target=None, assign_version=True)], link=False
    )[0]
    assert event.seq is not None and event.version == 1


def test_verify_links_pending_first_and_counts_them(token_client):
    audit_event_record(action="linked")
    store_pending(3)
    body = token_client("audit:verify").get("/audit/v1/verify").json()
    assert body["ok"] is True
    assert body["verified"] == AuditEvent.objects.count()
    assert body["message"] == f"verified {body['verified']} events"
    assert body["pending"] == 0
    assert not pending().exists()


def test_audit_verify_command_links_pending_first(capsys):
    store_pending(2)
    call_command("audit_verify")
    assert f"verified {AuditEvent.objects.count()} events" in capsys.readouterr().out
    assert not pending().exists()


def test_audits_expire_links_pending_before_taking_the_prefix():
    store_pending(2)
    call_command("audits_expire", "--days", "30", stdout=io.StringIO())
    assert not pending().exists()
    assert audit_chain_verify().ok


def test_canonical_form_leaves_seq_out():
    event = audit_event_record(action="x", description="y")
    document = json.loads(canonical(event))
    assert "seq" not in document
    assert sorted(document) == sorted(HASHED_FIELDS)
    moved = AuditEvent(**{f.attname: getattr(event, f.attname) for f in event._meta.fields})
    moved.seq = event.seq + 1000
    assert link_hash(event.prev_hash, moved) == event.hash


def test_verify_catches_rows_inserted_after_the_head():
    from audits.tests.test_chain import trigger_disabled

    last = audit_event_record(action="last")
    forged = audit_event_build(action="forged")
    forged.seq, forged.prev_hash = last.seq + 1, last.hash
    forged.hash = link_hash(last.hash, forged)
    with trigger_disabled():
        AuditEvent.objects.bulk_create([forged])
    result = audit_chain_verify()
    assert not result.ok
    assert "inserted after the head" in result.message


def test_edited_pending_event_is_caught_once_linked():
    from audits.tests.test_chain import trigger_disabled

    audit_event_record(action="before")
    (victim,) = store_pending(1)
    chain_link_pending()
    with trigger_disabled():
        AuditEvent.objects.filter(pk=victim.pk).update(action="edited")
    result = audit_chain_verify()
    assert not result.ok and result.broken_id == victim.pk


def test_admin_detail_shows_a_pending_event(superuser):
    client = Client()
    client.force_login(superuser)  # audited, so it would link an earlier pending event
    (event,) = store_pending(1)
    html = client.get(f"/admin/audits/auditevent/{event.pk}/change/").content.decode()
    assert "pending link" in html
    assert "seq None" not in html
    chain_link_pending()
    html = client.get(f"/admin/audits/auditevent/{event.pk}/change/").content.decode()
    assert "pending link" not in html
    event.refresh_from_db()
    assert event.hash in html


def test_linking_pending_events_runs_on_every_worker_tick():
    from audits.chain import audit_worker_tick
    from integration_site.registry import registry

    assert audit_worker_tick in registry["worker_tick_hooks"]


# --- The trigger on PostgreSQL ----------------------------------------------------------


def _execute(sql: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.postgres
def test_trigger_allows_linking_a_pending_event():
    (event,) = store_pending(1)
    _execute(
        "UPDATE audits_auditevent SET seq = %s, prev_hash = %s, hash = %s WHERE id = %s",
        [10**12, GENESIS_HASH, "f" * 64, event.pk],
    )
    assert AuditEvent.objects.get(pk=event.pk).seq == 10**12


@pytest.mark.postgres
@pytest.mark.parametrize(
    "assignments",
    [
        "action = 'edited'",  # a pending row's content
        "action = 'edited', seq = 999999999, prev_hash = repeat('0', 64), hash = repeat('f', 64)",
        "seq = 999999999",  # a partial link
        "received_at = received_at - interval '1 day', seq = 999999999, "
        "prev_hash = repeat('0', 64), hash = repeat('f', 64)",
    ],
)
def test_trigger_rejects_any_other_update_of_a_pending_event(assignments):
    (event,) = store_pending(1)
    with pytest.raises(DatabaseError, match="append-only"):
        _execute(f"UPDATE audits_auditevent SET {assignments} WHERE id = %s", [event.pk])


@pytest.mark.postgres
@pytest.mark.parametrize(
    "assignments",
    [
        "action = 'edited'",
        "hash = repeat('f', 64)",  # relinking a linked row
        "seq = NULL, prev_hash = NULL, hash = NULL",  # unlinking it
    ],
)
def test_trigger_rejects_updating_a_linked_event(assignments):
    event = audit_event_record(action="linked")
    with pytest.raises(DatabaseError, match="append-only"):
        _execute(f"UPDATE audits_auditevent SET {assignments} WHERE id = %s", [event.pk])


@pytest.mark.postgres
def test_trigger_still_rejects_deleting_a_pending_event():
    (event,) = store_pending(1)
    with pytest.raises(DatabaseError, match="append-only"):
        _execute("DELETE FROM audits_auditevent WHERE id = %s", [event.pk])


# --- Concurrency ------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_pending_posts_linked_appends_bulk_and_linkers(make_token):
    from rest_framework.test import APIClient

    _, secret = make_token("audit:write")
    failures: list = []
    stop = threading.Event()

    def client() -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return api

    def guarded(fn):
        def run(*args):
            try:
                fn(*args)
            except Exception as exc:  # surfaced by the assertion below
                failures.append(exc)
            finally:
                connection.close()

        return run

    # The pool holds DATABASE_POOL_MAX_SIZE (4) connections: every step gives its back.
    @guarded
    def singles(n: int):
        api = client()
        for i in range(40):
            response = post(api, {"action": f"single{n}.{i}"})
            connection.close()
            if response.status_code != 201:
                failures.append(response.content)

    @guarded
    def linked(n: int):
        for i in range(25):
            audit_event_record(action=f"linked{n}.{i}")
            connection.close()

    @guarded
    def bulk(n: int):
        api = client()
        for _ in range(3):
            events = [{"action": f"bulk{n}.{i}"} for i in range(40)]
            response = post(api, {"events": events}, BULK_URL)
            connection.close()
            if response.status_code != 201:
                failures.append(response.content)

    @guarded
    def linker():
        while not stop.is_set():
            chain_link_pending(limit=7)
            connection.close()

    threads = [threading.Thread(target=singles, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=linked, args=(n,)) for n in range(2)]
    threads += [threading.Thread(target=bulk, args=(n,)) for n in range(2)]
    linkers = [threading.Thread(target=linker) for _ in range(2)]
    for thread in threads + linkers:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    for thread in linkers:
        thread.join()
    assert failures == []
    chain_link_pending()
    assert not pending().exists()
    assert AuditEvent.objects.filter(action__startswith="single").count() == 160
    assert AuditEvent.objects.filter(action__startswith="bulk").count() == 240
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a gap in seq"
    prevs = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(prevs) == len(set(prevs)), "two events link to the same predecessor (a fork)"
    result = audit_chain_verify()
    assert result.ok, result.message
    assert result.verified == AuditEvent.objects.count()


def test_canonical_json_is_the_documented_form_and_survives_a_round_trip():
    from datetime import UTC, datetime, timedelta, timezone

    created = datetime(2026, 1, 31, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    event = audit_event_record(
        action="x",
        description='é\n\u2028 "q"',
        fields={"b": 1.5, "a": "z", "n": None, "big": 10**20},
        metadata={"k": "v"},
        remote_address="::ffff:1.2.3.4",
        created_at=created,
    )
    document = {name: getattr(event, name) for name in HASHED_FIELDS}
    document["created_at"] = "2026-01-31T12:00:00.123456Z"
    document["received_at"] = event.received_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    document["remote_address"] = ipaddress.ip_address("::ffff:1.2.3.4").compressed
    reference = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(event) == reference
    assert canonical(AuditEvent.objects.get(pk=event.pk)) == reference
    assert audit_chain_verify().ok
