"""
The tamper-evident chain. Each event stores

    hash = SHA-256( prev_hash || canonical(event) )      (hex digests, UTF-8 text)

where prev_hash is the previous event's hash (64 zeros before the first event, or the
retention checkpoint's hash) and canonical(event) is the JSON object of the fields in
HASHED_FIELDS, keys sorted, no whitespace, non-ASCII kept as UTF-8, times as
"YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC and the IP in compressed form. docs/architecture.md
repeats this definition.

Appending locks the single AuditChainHead row, so concurrent writers link one after another
with no gaps or forks.
"""

import hashlib
import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Max

from audits.models import AuditChainHead, AuditCheckpoint, AuditEvent

GENESIS_HASH = "0" * 64

HASHED_FIELDS = (
    "seq",
    "source",
    "action",
    "crud",
    "name",
    "title",
    "description",
    "actor_type",
    "actor_id",
    "actor_name",
    "actor_href",
    "target_type",
    "target_id",
    "target_name",
    "target_href",
    "associated_type",
    "associated_id",
    "associated_name",
    "group_id",
    "group_name",
    "version",
    "audited_changes",
    "comment",
    "remote_address",
    "request_uuid",
    "is_failure",
    "is_anonymous",
    "fields",
    "metadata",
    "external_id",
    "component",
    "component_version",
    "created_at",
    "received_at",
)


def _canonical_value(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def normalize_ip(value: str | None) -> str | None:
    return ipaddress.ip_address(value).compressed if value else None


def canonical(event: AuditEvent) -> str:
    document = {name: _canonical_value(getattr(event, name)) for name in HASHED_FIELDS}
    document["remote_address"] = normalize_ip(event.remote_address)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def link_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + canonical(event)).encode()).hexdigest()


def _next_versions(events: list[AuditEvent]) -> None:
    """Per-record versions (audited's semantics: 1 on create, then max + 1), under the lock."""
    latest: dict[tuple[str, str], int] = {}
    for event in events:
        if not getattr(event, "assign_version", False):
            continue
        key = (event.target_type, event.target_id)
        if key not in latest:
            latest[key] = (
                AuditEvent.objects.filter(target_type=key[0], target_id=key[1]).aggregate(
                    v=Max("version")
                )["v"]
                or 0
            )
        latest[key] += 1
        event.version = latest[key]


def chain_append(events: list[AuditEvent], *, persist=None) -> list[AuditEvent]:
    """
    Link and store `events` in order, in one transaction. `persist(events)` stores them
    (bulk_create by default; the bulk ingest path passes a COPY writer).
    """
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        _next_versions(events)
        prev, seq = head.last_hash, head.last_seq
        for event in events:
            seq += 1
            event.seq = seq
            event.remote_address = normalize_ip(event.remote_address)
            event.prev_hash = prev
            event.hash = link_hash(prev, event)
            prev = event.hash
        (persist or _bulk_create)(events)
        head.last_seq, head.last_hash = seq, prev
        head.save(update_fields=["last_seq", "last_hash"])
    return events


def _bulk_create(events: list[AuditEvent]) -> None:
    AuditEvent.objects.bulk_create(events, batch_size=500)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    verified: int
    message: str
    broken_seq: int | None = None
    broken_id: int | None = None

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "verified": self.verified,
            "message": self.message,
            "broken_seq": self.broken_seq,
            "broken_id": self.broken_id,
        }


def _start() -> tuple[int, str]:
    checkpoint = AuditCheckpoint.objects.order_by("-seq").first()
    return (checkpoint.seq, checkpoint.hash) if checkpoint else (0, GENESIS_HASH)


def audit_chain_verify(*, events: Iterable[AuditEvent] | None = None) -> VerifyResult:
    """
    Walk the chain in `seq` order and report the first broken link: an edited row (its
    hash no longer matches its content), a deleted row (a gap in seq) or a reordered or
    inserted row (its prev_hash is not the previous row's hash).
    """
    expected_seq, prev = _start()
    if events is None:
        events = AuditEvent.objects.order_by("seq").iterator(chunk_size=2000)
    verified = 0
    for event in events:
        expected_seq += 1
        if event.seq != expected_seq:
            return VerifyResult(
                False,
                verified,
                f"Chain broken at seq {expected_seq}: event(s) {expected_seq}..{event.seq - 1} "
                f"are missing (deleted) before event id {event.pk}.",
                expected_seq,
                event.pk,
            )
        if event.prev_hash != prev:
            return VerifyResult(
                False,
                verified,
                f"Chain broken at seq {event.seq} (event id {event.pk}): it does not follow "
                "the previous event (reordered, inserted or the previous row was edited).",
                event.seq,
                event.pk,
            )
        if link_hash(prev, event) != event.hash:
            return VerifyResult(
                False,
                verified,
                f"Chain broken at seq {event.seq} (event id {event.pk}): its content no longer "
                "matches its hash (the row was edited).",
                event.seq,
                event.pk,
            )
        prev = event.hash
        verified += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head and head.last_seq != expected_seq:
        return VerifyResult(
            False,
            verified,
            f"Chain broken at the end: the head records seq {head.last_seq} but the last "
            f"event is seq {expected_seq} (trailing events deleted).",
            expected_seq + 1,
            None,
        )
    return VerifyResult(True, verified, f"verified {verified} events")


def database_is_postgresql() -> bool:
    return connection.vendor == "postgresql"
