"""
The one auditing entry point. Every app records events through `audit_event_record`
(or `audit_events_append` for a batch); nothing else writes AuditEvent.
"""

import hashlib
import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any

from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    connection,
    connections,
    transaction,
)
from django.db.models import Max, Q
from django.db.models.base import ModelState
from django.utils import timezone
from psycopg.copy import Copy, FileWriter
from psycopg.errors import LockNotAvailable, ObjectNotInPrerequisiteState

from audits.chain import (
    chain_append,
    chain_head_locked,
    chain_heads_locked,
    chain_ids,
    chain_link_pending,
    chain_link_pending_locked,
    normalize_ip,
    written_alike,
)
from audits.context import (
    ANONYMOUS_ACTOR,
    AuditActor,
    AuditContext,
    AuditTarget,
    current_audit_context,
)
from audits.counters import (
    EventCounts,
    audit_counts_expire,
    audit_counts_of,
    audit_counts_roll_up,
    audit_counts_subtract,
)
from audits.ingest import ValidEvent
from audits.models import (
    DEFAULT_CHAIN,
    AuditCheckpoint,
    AuditEvent,
    AuditIdempotencyKey,
    AuditSource,
    Crud,
)
from audits.partitions import (
    DEFAULT_PARTITION,
    Partition,
    audit_default_partition_rows,
    audit_events_partitioned,
    audit_partitions,
)
from integration_site.row_insert import rows_insert_each

logger = logging.getLogger(__name__)

REDACTED = "[redacted]"
_NO_TARGET = AuditTarget(type="")


_EVENT_FIELDS = AuditEvent._meta.concrete_fields
_CALLABLE_DEFAULTS = [f for f in _EVENT_FIELDS if f.has_default() and callable(f.default)]
_STATIC_DEFAULTS = {
    f.attname: f.get_default() for f in _EVENT_FIELDS if f not in _CALLABLE_DEFAULTS
}


def _new_event(**values: Any) -> AuditEvent:
    """
    An unsaved AuditEvent without Model.__init__: the bulk path builds a thousand per request
    and __init__ (field loop, descriptors, pre/post_init signals, which nothing listens to for
    this model) costs several times this. Equivalent for a model with no relations in its
    concrete fields: every attname set, a fresh ModelState, callable defaults called.
    """
    state = dict(_STATIC_DEFAULTS)
    state.update(values)
    for f in _CALLABLE_DEFAULTS:
        if f.attname not in values:
            state[f.attname] = f.get_default()
    state["_state"] = ModelState()
    event = AuditEvent.__new__(AuditEvent)
    event.__dict__ = state
    return event


def audit_event_build(
    *,
    action: str,
    source: str = AuditSource.SITE,
    crud: str = "",
    name: str = "",
    title: str = "",
    description: str = "",
    actor: AuditActor | None = None,
    target: AuditTarget | None = None,
    associated: AuditTarget | None = None,
    audited_changes: dict[str, Any] | None = None,
    comment: str = "",
    remote_address: str | None = None,
    request_uuid: str | None = None,
    group_id: str = "",
    group_name: str = "",
    is_failure: bool = False,
    is_anonymous: bool = False,
    fields: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    external_id: str = "",
    component: str = "",
    component_version: str = "",
    created_at: datetime | None = None,
    assign_version: bool = False,
    context: AuditContext | None = None,
    received_at: datetime | None = None,
) -> AuditEvent:
    """
    An unsaved event with the acting context filled in from the current request/command
    (`context` passes one already looked up; a batch does it once).
    """
    context = context or current_audit_context()
    actor = actor or context.actor
    target = target or _NO_TARGET
    associated = associated or _NO_TARGET
    now = received_at or timezone.now()
    event = _new_event(
        source=source,
        action=action,
        crud=crud,
        name=name,
        title=title,
        description=description,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        actor_href=actor.href,
        target_type=target.type,
        target_id=target.id,
        target_name=target.name,
        target_href=target.href,
        associated_type=associated.type,
        associated_id=associated.id,
        associated_name=associated.name,
        group_id=group_id,
        group_name=group_name,
        audited_changes=audited_changes or {},
        comment=comment,
        remote_address=remote_address if remote_address is not None else context.remote_address,
        request_uuid=request_uuid or context.request_uuid,
        is_failure=is_failure,
        is_anonymous=is_anonymous,
        fields=fields or {},
        metadata=metadata or {},
        external_id=external_id,
        component=component,
        component_version=component_version,
        created_at=created_at or now,
        received_at=now,
    )
    event.assign_version = assign_version
    return event


# --- Stored-events hooks ----------------------------------------------------------------

# Called with the events just stored, inside the transaction that stored them.
StoredEventsHook = Callable[[list[AuditEvent]], None]
_stored_hooks: list[StoredEventsHook] = []
# The target types some hook acts on: a single ingested event of any other type takes the
# one-INSERT path of audit_events_ingest, which runs no hook.
_hooked_target_types: set[str] = set()


def audit_stored_hook_register(*, target_types: Iterable[str], hook: StoredEventsHook) -> None:
    """
    Have `hook` run on every batch of stored events (each with its pk), in their
    transaction; it must ignore events whose target type is not in `target_types`. Called
    from AuditsConfig.ready(): the Foreman package links host and taxonomy events to their
    locations and organizations this way, so the write path imports no API layer.
    """
    if hook not in _stored_hooks:
        _stored_hooks.append(hook)
    _hooked_target_types.update(target_types)


def audit_events_append(
    events: list[AuditEvent], *, link: bool = True, persist=None
) -> list[AuditEvent]:
    """
    Store built events, all or nothing, in input order. link=True (the default) links them
    into the chain at once, so each has its seq and hash on return. link=False stores them
    pending, without the chain lock (single-event ingest: concurrent commits then overlap);
    the worker links them within about a second (audits.chain.chain_link_pending).
    """
    if persist is None and _copy_worthwhile(events):
        persist = copy_prepare(events)
    with transaction.atomic(savepoint=False):
        stored = chain_append(events, link=link, persist=persist)
        for hook in _stored_hooks:
            hook(stored)
    return stored


# From this many events a batch is stored by COPY on PostgreSQL (copy_prepare): bulk ingest
# (linked, or pending for Retraced's publisher) and the engine's state changes. Below it the
# ORM's INSERT costs fewer round trips.
COPY_MIN_EVENTS = 20


def _copy_worthwhile(events: list[AuditEvent]) -> bool:
    # copy_prepare formats every column before the chain lock, and versions are assigned
    # under it: events that need one go through the ORM.
    return (
        len(events) >= COPY_MIN_EVENTS
        and connection.vendor == "postgresql"
        and not any(getattr(e, "assign_version", False) for e in events)
    )


def audit_event_record(
    *,
    action: str,
    source: str = AuditSource.SITE,
    crud: str = "",
    name: str = "",
    title: str = "",
    description: str = "",
    actor: AuditActor | None = None,
    target: AuditTarget | None = None,
    associated: AuditTarget | None = None,
    audited_changes: dict[str, Any] | None = None,
    comment: str = "",
    remote_address: str | None = None,
    request_uuid: str | None = None,
    group_id: str = "",
    group_name: str = "",
    is_failure: bool = False,
    is_anonymous: bool = False,
    fields: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    external_id: str = "",
    component: str = "",
    component_version: str = "",
    created_at: datetime | None = None,
    assign_version: bool = False,
    context: AuditContext | None = None,
    received_at: datetime | None = None,
) -> AuditEvent:
    """
    Record one event, linked into the chain, and return it stored. The arguments are those
    of `audit_event_build` (which documents the acting context's defaults).
    """
    return audit_events_append(
        [
            audit_event_build(
                action=action,
                source=source,
                crud=crud,
                name=name,
                title=title,
                description=description,
                actor=actor,
                target=target,
                associated=associated,
                audited_changes=audited_changes,
                comment=comment,
                remote_address=remote_address,
                request_uuid=request_uuid,
                group_id=group_id,
                group_name=group_name,
                is_failure=is_failure,
                is_anonymous=is_anonymous,
                fields=fields,
                metadata=metadata,
                external_id=external_id,
                component=component,
                component_version=component_version,
                created_at=created_at,
                assign_version=assign_version,
                context=context,
                received_at=received_at,
            )
        ]
    )[0]


# --- Ingest (the Replicated Audit API) -------------------------------------------------


@dataclass(frozen=True)
class IngestResult:
    """What the ingest API answers; stored whole for Idempotency-Key replays."""

    status: int
    body: str
    content_type: str
    headers: dict[str, str]
    replayed: bool = False


@dataclass(frozen=True)
class IdempotencyClaim:
    owner: str
    key: str
    fingerprint: str


class IdempotencyKeyReused(Exception):
    """The key was used before with a different request body."""


def idempotency_fingerprint(*, endpoint: str, payload: Any) -> str:
    # The parsed body, canonicalised, so key order and whitespace do not count as a change.
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{endpoint}\n{canonical}".encode("utf-8", "surrogatepass")).hexdigest()


def _idempotency_claim(claim: IdempotencyClaim) -> IngestResult | None:
    """
    Take the key for this request, or return the stored result of the request that took it.
    Runs inside the ingest transaction: a racing duplicate blocks on the unique index until
    the first commits, then reads its complete result.
    """
    cutoff = timezone.now() - timedelta(hours=settings.AUDIT_IDEMPOTENCY_TTL_HOURS)
    AuditIdempotencyKey.objects.filter(
        owner=claim.owner, key=claim.key, created_at__lt=cutoff
    ).delete()
    try:
        with transaction.atomic():
            AuditIdempotencyKey.objects.create(
                owner=claim.owner, key=claim.key, fingerprint=claim.fingerprint
            )
        return None
    except IntegrityError:
        stored = AuditIdempotencyKey.objects.get(owner=claim.owner, key=claim.key)
    if stored.fingerprint != claim.fingerprint:
        raise IdempotencyKeyReused(claim.key)
    return IngestResult(
        status=stored.status_code,
        body=stored.response_body,
        content_type=stored.response_headers.get("Content-Type", "text/plain; charset=utf-8"),
        headers={k: v for k, v in stored.response_headers.items() if k != "Content-Type"},
        replayed=True,
    )


_FRESH_MAPS = ("audited_changes", "actor_fields", "target_fields", "fields", "metadata")


def _ingested_build(
    events: list[ValidEvent], caller_ip: str | None, context: AuditContext, received_at: datetime
) -> list[AuditEvent]:
    """
    Unsaved events for validated Audit API input. The request's share of every event (the
    acting token, the caller's address, the request UUID, the times, the defaults) is built
    once by `audit_event_build` and copied per event: the bulk path builds a thousand per
    request, and a call with thirty keyword arguments each cost more than the INSERT.
    """
    template = audit_event_build(
        source=AuditSource.INTEGRATION,
        action="",
        remote_address=caller_ip,
        context=context,
        received_at=received_at,
    ).__dict__
    built = []
    for event in events:
        state = template.copy()
        state.update(event.values)
        actor = event.actor
        if actor is None and event.values.get("is_anonymous"):
            actor = ANONYMOUS_ACTOR
        if actor is not None:
            state["actor_type"], state["actor_id"] = actor.type, actor.id
            state["actor_name"], state["actor_href"] = actor.name, actor.href
        if event.ip_address:
            state["remote_address"] = event.ip_address
        for name in _FRESH_MAPS:  # the template's would be one dict shared by every event
            if state[name] is template[name]:
                state[name] = {}
        state["_state"] = ModelState()
        instance = AuditEvent.__new__(AuditEvent)
        instance.__dict__ = state
        built.append(instance)
    return built


def audit_events_ingest(
    *,
    events: list[ValidEvent],
    caller_ip: str | None,
    bulk: bool,
    idempotency: IdempotencyClaim | None = None,
    receipts: bool = False,
) -> IngestResult:
    """
    Store validated events from the Audit API in one transaction, all or nothing, and
    return the response. A single event answers Replicated's 201 with an empty text/plain
    body and is stored pending (linked by the worker, so ingest commits do not queue on the
    chain lock); the bulk endpoint links at once and answers [{id, hash}] in input order. The
    result exists only once committed, so a 201 means stored.

    receipts=True is Retraced's publisher API: each event's values carry its `retraced_id`
    and `receipt_hash`, made before storing, and the answer is those receipts, `{id, hash}`
    for one event or a list of them in input order. A single event is stored pending, like
    Replicated's. A bulk batch is linked at once, like Replicated's bulk: stored pending, each
    of its rows would be written twice (the linker's UPDATE of seq, an indexed column, is never
    HOT), and at 1,000 events per request the linker fell behind ingest four to one
    (docs/benchmarks.md, "The chain linker under pending bulk").
    """
    context = current_audit_context()
    if not bulk and idempotency is None:
        event = _ingested_build(events, caller_ip, context, timezone.now())[0]
        if event.target_type not in _hooked_target_types:
            # The common case is one INSERT and nothing else: in autocommit it is atomic and
            # durable on its own, so no BEGIN/COMMIT round trips (no hook has rows to add).
            chain_append([event], link=False, persist=rows_insert_each)
            return _ingest_result([event], bulk=False, receipts=receipts)
    with transaction.atomic():
        if idempotency is not None:
            previous = _idempotency_claim(idempotency)
            if previous is not None:
                return previous
        # One received_at for the request: the events are stored by one transaction.
        now = timezone.now()
        built = _ingested_build(events, caller_ip, context, now)
        appended = audit_events_append(built, link=bulk)
        result = _ingest_result(appended, bulk=bulk, receipts=receipts)
        if idempotency is not None:
            AuditIdempotencyKey.objects.filter(owner=idempotency.owner, key=idempotency.key).update(
                status_code=result.status,
                response_body=result.body,
                response_headers={**result.headers, "Content-Type": result.content_type},
            )
    return result


def _ingest_result(stored: list[AuditEvent], *, bulk: bool, receipts: bool) -> IngestResult:
    if receipts:
        answers = [{"id": e.retraced_id, "hash": e.receipt_hash} for e in stored]
        body = json.dumps(answers if bulk else answers[0])
        headers = {} if bulk else {"X-Audit-Event-Id": str(stored[0].pk)}
        return IngestResult(201, body, "application/json", headers)
    if bulk:
        body = json.dumps([{"id": e.pk, "hash": e.hash} for e in stored])
        return IngestResult(201, body, "application/json", {})
    # No hash header: the event is pending; its hash exists once the worker links it.
    headers = {"X-Audit-Event-Id": str(stored[0].pk)}
    return IngestResult(201, "", "text/plain; charset=utf-8", headers)


def audit_idempotency_keys_purge() -> int:
    """Forget keys older than AUDIT_IDEMPOTENCY_TTL_HOURS; returns how many."""
    cutoff = timezone.now() - timedelta(hours=settings.AUDIT_IDEMPOTENCY_TTL_HOURS)
    deleted, _ = AuditIdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# Written under the lock, after the rest of the row: the chain (set by chain_append) and
# the link.
_CHAIN_COLUMNS = ("chain", "seq", "prev_hash", "hash")
_COPY_FIELDS = [f for f in AuditEvent._meta.concrete_fields if f.attname not in _CHAIN_COLUMNS]
_copy_values = attrgetter(*(f.attname for f in _COPY_FIELDS))
_JSON_INDEXES = [i for i, f in enumerate(_COPY_FIELDS) if f.get_internal_type() == "JSONField"]


def copy_prepare(events: list[AuditEvent]) -> Callable[[list[AuditEvent]], None]:
    """
    A batch's storage on PostgreSQL (bulk ingest, the monitoring engine's state changes), in
    two halves so that little of it runs under the chain lock, which serialises
    every linked append. Now, before the lock: ids drawn from the table's sequence in one
    round trip, and every column but the chain's three formatted as COPY text by psycopg (its
    own adaptation, off the wire). A column written alike for the whole batch (a bulk
    request's token, address, times and defaults) is formatted once: the COPY names the
    varying columns first and the shared ones after, so each row is its own varying values
    plus one shared tail. Returned: chain_append's `persist` hook, which appends each row's
    chain, seq, prev_hash and hash (the last three NULL for a pending batch) and sends the
    batch as one COPY.
    """
    table = AuditEvent._meta.db_table
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(events)],
        )
        for event, (pk,) in zip(events, cursor.fetchall(), strict=True):
            event.pk = pk
    dumps = json.dumps
    rows = []
    for event in events:
        # As chain_append would (a no-op for it then): the address is hashed and stored
        # compressed.
        event.remote_address = normalize_ip(event.remote_address)
        row = list(_copy_values(event))
        for index in _JSON_INDEXES:
            value = row[index]
            row[index] = "{}" if value == {} else dumps(value)  # most are empty
        rows.append(row)
    columns = list(zip(*rows, strict=True))
    shared = [i for i, column in enumerate(columns) if len(rows) > 1 and written_alike(column)]
    varying = [i for i in range(len(_COPY_FIELDS)) if i not in shared]
    buffer = io.BytesIO()
    # A cursor that has run no statement: psycopg formats with it and sends nothing.
    with (
        connection.cursor() as formatter,
        Copy(formatter.cursor, writer=FileWriter(buffer)) as copy,
    ):
        write_row = copy.write_row
        if shared:
            write_row([columns[i][0] for i in shared])
        pick = itemgetter(*varying) if len(varying) > 1 else lambda row: (row[varying[0]],)
        for row in rows:
            write_row(pick(row))
    # COPY's text format escapes newlines and tabs inside values: each b"\n" ends one row,
    # each b"\t" ends one value.
    lines = buffer.getvalue().split(b"\n")[:-1]
    tail = b"\t" + lines.pop(0) if shared else b""
    names = ", ".join(quote(_COPY_FIELDS[i].column) for i in varying + shared)
    statement = f"COPY {quote(table)} ({names}, chain, seq, prev_hash, hash) FROM STDIN"

    def persist(stored: list[AuditEvent]) -> None:
        if stored[0].seq is None:  # pending (chain_append link=False): the worker links them
            data = b"".join(
                b"%s%s\t%d\t\\N\t\\N\t\\N\n" % (line, tail, event.chain)
                for line, event in zip(lines, stored, strict=True)
            )
        else:
            data = b"".join(
                b"%s%s\t%d\t%d\t%s\t%s\n"
                % (
                    line,
                    tail,
                    event.chain,
                    event.seq,
                    event.prev_hash.encode(),
                    event.hash.encode(),
                )
                for line, event in zip(lines, stored, strict=True)
            )
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            copy.write(data)
        for event in stored:
            event._state.adding = False

    return persist


# --- Retention: the one sanctioned deletion ---------------------------------------------


@dataclass(frozen=True)
class ExpireResult:
    removed: int
    through_seq: int
    cutoff: datetime


# Events deleted per transaction by `audit_events_expire`. Each batch holds the chain-head
# lock, which every append waits on, only for its own DELETE: ingest stalls for one batch,
# not for the whole prefix (millions of rows on a first run).
EXPIRE_BATCH_SIZE = 10_000


def audit_retention_floor_days() -> int:
    """
    The minimum retention: on PostgreSQL the value the retention function enforces, from the
    owner-only table `migrate` writes; elsewhere AUDIT_MIN_RETENTION_DAYS.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT min_days FROM audits_retention_floor")
            return cursor.fetchone()[0]
    return settings.AUDIT_MIN_RETENTION_DAYS


def audit_retention_floor_apply(*, using: str) -> None:
    """
    Write AUDIT_MIN_RETENTION_DAYS into the floor table (PostgreSQL). Runs after every
    `migrate`, which connects as the tables' owner; the site's role cannot write the table.
    """
    wrapper = connections[using]
    if wrapper.vendor != "postgresql":
        return
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT to_regclass('audits_retention_floor') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute(
                "UPDATE audits_retention_floor SET min_days = %s",
                [settings.AUDIT_MIN_RETENTION_DAYS],
            )


def audit_events_expire(*, days: int, batch_size: int = EXPIRE_BATCH_SIZE) -> ExpireResult:
    """
    Delete the events received more than `days` days ago: the longest prefix of the chain
    older than the cutoff, so the rest still links. `days` may not be below the minimum
    retention (`audit_retention_floor_days`). On PostgreSQL each batch's deletion is the
    SECURITY DEFINER function `audits_expire_through`, the only DELETE the append-only
    trigger lets through.

    The prefix is found once under the head lock, then deleted from its start in batches of
    at most `batch_size` events, each its own transaction under the lock. Each batch writes a
    checkpoint (its last removed link, where verification starts) and records its own
    `audit.expire` event, inside the chain, vouching for that checkpoint: the chain verifies
    after every committed batch, so a run stopped between batches (a crash, a restart) leaves
    a shorter but verifiable chain, and the next run carries on from the latest checkpoint.
    A run with nothing to remove still records one `audit.expire` (removed 0).
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    floor = audit_retention_floor_days()
    if days < floor:
        raise ValueError(f"days must be at least the minimum retention of {floor} days")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = timezone.now() - timedelta(days=days)
    removed = 0
    partitioned = audit_events_partitioned()
    if partitioned:
        dropped = _expire_partitions(cutoff=cutoff, days=days)
        removed = dropped.removed
        # Row by row only for what the DEFAULT partition holds (events no partition covered):
        # a partitioned event is removed with its whole partition, never row by row.
        if not audit_default_partition_rows(before=cutoff):
            if dropped.partitions:
                return ExpireResult(removed=removed, through_seq=dropped.through_seq, cutoff=cutoff)
            # Nothing to remove: the run is still recorded (removed 0).
            return _expire_batch(
                chain=DEFAULT_CHAIN, through=0, batch_size=batch_size, cutoff=cutoff, days=days
            )
    through_seq = 0
    for chain in chain_ids():
        with transaction.atomic():
            head = chain_head_locked(chain)
            # Pending events join the chain first, so the prefix is computed over all of them.
            chain_link_pending_locked(head)
            if partitioned:
                # Only the DEFAULT partition is searched: the prefix stops before the first
                # partitioned event anyway, and a month's partition is too big to walk here.
                through = _default_partition_prefix_end(
                    chain=chain, cutoff=cutoff, head_seq=head.last_seq
                )
            else:
                first_kept = (
                    AuditEvent.objects.filter(
                        chain=chain, seq__isnull=False, received_at__gte=cutoff
                    )
                    .order_by("seq")
                    .values("seq")
                    .first()
                )
                # Events appended later are received after the cutoff: the prefix cannot grow.
                through = (first_kept["seq"] - 1) if first_kept else head.last_seq
        while True:
            batch = _expire_batch(
                chain=chain, through=through, batch_size=batch_size, cutoff=cutoff, days=days
            )
            removed += batch.removed
            if batch.removed == 0 or batch.through_seq >= through:
                break
        if chain == DEFAULT_CHAIN:
            through_seq = batch.through_seq
    return ExpireResult(removed=removed, through_seq=through_seq, cutoff=cutoff)


@dataclass(frozen=True)
class PartitionsExpired:
    partitions: int
    removed: int
    through_seq: int  # the default chain's checkpoint


# The DETACH of a partition needs the event table to itself for a moment: it waits at most
# this long for readers and writers to let go (who queue behind it meanwhile), then gives up
# and tries again, so no ingest stalls for longer than this.
EXPIRE_LOCK_TIMEOUT_MS = 300
EXPIRE_LOCK_ATTEMPTS = 20


class _PartitionNotExpirable(Exception):
    """The partition cannot go yet; the next run tries again."""


def _expire_partitions(*, cutoff: datetime, days: int) -> PartitionsExpired:
    """
    Drop, oldest first, every partition whose whole range was received before `cutoff`,
    each with the few events linked before its last one of their chain but received after
    its end, so each removal is a prefix of every chain (`audits_expire_partition`,
    migrations 0019 and 0023). Each is its own transaction, writes a checkpoint per chain and
    records an `audit.expire` per chain. Stops at the first partition that cannot go yet (an
    event linked into one of its chains' ranges was received after the cutoff); the next
    run carries on.
    """
    dropped = removed = 0
    through = 0
    for part in audit_partitions():
        if part.end > cutoff:
            break
        try:
            part_removed, through = _expire_partition(part, cutoff=cutoff, days=days)
        except _PartitionNotExpirable:
            break
        dropped += 1
        removed += part_removed
    return PartitionsExpired(partitions=dropped, removed=removed, through_seq=through)


def _checkpoint_seq(chain: int) -> int:
    checkpoint = AuditCheckpoint.objects.filter(chain=chain).order_by("-seq").first()
    return checkpoint.seq if checkpoint else 0


def _expire_partition(part: Partition, *, cutoff: datetime, days: int) -> tuple[int, int]:
    # Everything slow happens before the chain locks: linking the pending events, the
    # counters' roll-up, and counting the partition's events for the dashboard.
    chain_link_pending()
    audit_counts_roll_up()
    in_partition = AuditEvent.objects.filter(received_at__gte=part.start, received_at__lt=part.end)
    lasts = dict(
        in_partition.order_by()
        .values("chain")
        .annotate(last=Max("seq"))
        .values_list("chain", "last")
    )
    starts = {chain: _checkpoint_seq(chain) for chain in lasts}
    counts = audit_counts_of(in_partition)
    for chain, last in lasts.items():
        if last is None:
            continue  # pending only: the function refuses the partition
        stragglers = AuditEvent.objects.filter(
            chain=chain, seq__gt=starts[chain], seq__lte=last
        ).filter(Q(received_at__lt=part.start) | Q(received_at__gte=part.end))
        if stragglers.filter(received_at__gte=cutoff).exists():
            raise _PartitionNotExpirable(part.name)
        counts = counts + audit_counts_of(stragglers)
    for attempt in range(EXPIRE_LOCK_ATTEMPTS):
        try:
            with transaction.atomic():
                return _expire_partition_locked(
                    part, starts=starts, lasts=lasts, counts=counts, cutoff=cutoff, days=days
                )
        except DatabaseError as exc:
            if isinstance(exc.__cause__, LockNotAvailable):
                logger.info("Expiring %s: the event table stayed busy; retrying.", part.name)
                time.sleep(min(2.0, 0.1 * 2**attempt))
                continue
            # Events stored or left unlinked in its range since it was counted.
            if isinstance(exc.__cause__, ObjectNotInPrerequisiteState):
                raise _PartitionNotExpirable(part.name) from exc
            raise
    raise _PartitionNotExpirable(part.name)


def _expire_partition_locked(
    part: Partition,
    *,
    starts: dict[int, int],
    lasts: dict[int, int | None],
    counts: EventCounts,
    cutoff: datetime,
    days: int,
) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, true)", [f"{EXPIRE_LOCK_TIMEOUT_MS}ms"]
        )
        # Subtracted first: the deletion below makes the events uncountable.
        through = {chain: last for chain, last in lasts.items() if last is not None}
        if through and not audit_counts_subtract(counts, through=through):
            for chain in sorted(through):
                audit_counts_expire(
                    chain=chain, after_seq=starts[chain], through_seq=through[chain]
                )
        # One row per chain it removed events of: (chain, its checkpoint's seq, removed).
        cursor.execute(
            "SELECT out_chain, out_through, out_removed FROM audits_expire_partition(%s)",
            [part.name],
        )
        removals = cursor.fetchall() or [(DEFAULT_CHAIN, _checkpoint_seq(DEFAULT_CHAIN), 0)]
    for chain, through_seq, removed in removals:
        checkpoint_hash = (
            AuditCheckpoint.objects.filter(chain=chain, seq=through_seq)
            .values_list("hash", flat=True)
            .first()
        )
        _expiry_record(
            description=(
                f"Removed {removed} audit events{_of_chain(chain)} received before "
                f"{part.end.isoformat()} (partition {part.name}; retention {days} days, cutoff "
                f"{cutoff.isoformat()}); checkpoint at seq {through_seq}."
            ),
            chain=chain,
            removed=removed,
            through_seq=through_seq,
            checkpoint_hash=checkpoint_hash if removed else None,
            partition=part.name,
        )
    default_through = next(
        (through_seq for chain, through_seq, _ in removals if chain == DEFAULT_CHAIN),
        _checkpoint_seq(DEFAULT_CHAIN),
    )
    return sum(removed for _, _, removed in removals), default_through


def _of_chain(chain: int) -> str:
    return "" if chain == DEFAULT_CHAIN else f" of chain {chain}"


def _default_partition_prefix_end(*, chain: int, cutoff: datetime, head_seq: int) -> int:
    """
    The last seq of the chain's prefix that lies in the DEFAULT partition and was received
    before `cutoff`: it ends before the chain's first event of any range partition and
    before its first default one received since.
    """
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    default = connection.ops.quote_name(DEFAULT_PARTITION)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT min(seq) FROM {table} WHERE chain = %s AND tableoid <> to_regclass(%s)),"
            f" (SELECT min(seq) FROM {default} WHERE chain = %s AND received_at >= %s)",
            [chain, DEFAULT_PARTITION, chain, cutoff],
        )
        bounds = [seq - 1 for seq in cursor.fetchone() if seq is not None]
    return min([head_seq, *bounds])


def _expiry_record(
    *,
    description: str,
    chain: int,
    removed: int,
    through_seq: int,
    checkpoint_hash: str | None,
    partition: str | None = None,
) -> None:
    """
    The `audit.expire` event of one removal from one chain, in its transaction, in the
    default chain (a site event). It carries the checkpoint inside the chain: verification
    starts from a checkpoint only if a linked expiry vouches for it, so a forged one (a
    prefix deleted with a checkpoint planted by hand) does not verify.
    """
    audit_event_record(
        action="audit.expire",
        crud=Crud.DELETE,
        source=AuditSource.SYSTEM,
        target=AuditTarget(type="AuditTrail", name="audit events"),
        description=description,
        audited_changes={
            "removed": removed,
            "through_seq": through_seq,
            **({"chain": chain} if chain != DEFAULT_CHAIN else {}),
            **({"partition": partition} if partition else {}),
            **({"checkpoint_hash": checkpoint_hash} if checkpoint_hash else {}),
        },
    )


def _expire_batch(
    *, chain: int, through: int, batch_size: int, cutoff: datetime, days: int
) -> ExpireResult:
    """
    One transaction of `audit_events_expire`: under the chain's head lock (and the default
    chain's, where the record goes, taken first), delete the chain's next at most
    `batch_size` events of its prefix ending at `through`, write the checkpoint and record
    the `audit.expire` event vouching for it. Removing nothing from the default chain (the
    prefix is already gone) still records the expiry, with the current checkpoint; from
    another chain it records nothing.
    """
    with transaction.atomic():
        heads = chain_heads_locked({DEFAULT_CHAIN, chain})  # no append interleaves
        chain_link_pending_locked(heads[chain])
        checkpoint = AuditCheckpoint.objects.filter(chain=chain).order_by("-seq").first()
        start = checkpoint.seq if checkpoint else 0
        start_hash = checkpoint.hash if checkpoint else None
        end = min(through, start + batch_size)
        removed = 0
        if end > start:
            last = AuditEvent.objects.filter(chain=chain, seq=end).values("hash").first()
            # The dashboard's hourly counters describe the events that remain.
            audit_counts_expire(chain=chain, after_seq=start, through_seq=end)
            if connection.vendor == "postgresql":
                # The one door the append-only trigger opens (migrations 0012, 0023): a
                # SECURITY DEFINER function that deletes the chain's prefix, its taxonomy
                # links with it (ON DELETE CASCADE), and writes the checkpoint, as the tables'
                # owner. It refuses events younger than the floor the site's role cannot change.
                with connection.cursor() as cursor:
                    cursor.execute("SELECT audits_expire_through(%s, %s)", [chain, end])
                    removed = cursor.fetchone()[0]
            else:
                expired = AuditEvent.objects.filter(chain=chain, seq__lte=end)
                # Foreman's audits:expire also drops the taxonomy links first.
                for relation in (AuditEvent.locations, AuditEvent.organizations):
                    relation.through.objects.filter(
                        auditevent__chain=chain, auditevent__seq__lte=end
                    ).delete()
                # A raw DELETE: no per-row signals or cascades to collect.
                removed = expired._raw_delete(expired.db)
                AuditCheckpoint.objects.create(
                    chain=chain, seq=end, hash=last["hash"], removed_count=removed
                )
            start, start_hash = end, last["hash"]
        if removed or chain == DEFAULT_CHAIN:
            _expiry_record(
                description=(
                    f"Removed {removed} audit events{_of_chain(chain)} received before "
                    f"{cutoff.isoformat()} (retention {days} days); checkpoint at seq {start}."
                ),
                chain=chain,
                removed=removed,
                through_seq=start,
                checkpoint_hash=start_hash,
            )
    return ExpireResult(removed=removed, through_seq=start, cutoff=cutoff)
