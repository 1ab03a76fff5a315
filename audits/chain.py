"""
The tamper-evident chain. Each linked event stores

    hash = SHA-256( prev_hash || canonical(event) )      (hex digests, UTF-8 text)

where prev_hash is the previous event's hash (64 zeros before the first event, or the
retention checkpoint's hash) and canonical(event) is the JSON object of the fields in
HASHED_FIELDS (plus those of OPTIONAL_HASHED_FIELDS that are non-empty), keys sorted at
every level, no whitespace, non-ASCII kept as UTF-8, times as
"YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC, the IP in compressed form without a zone, and numbers
as PostgreSQL's jsonb gives them back (a float written with a positive exponent, 1e+16, as
the integer it denotes; -0.0 as 0.0). `seq` is not part of
the canonical form: the order is fixed by each hash covering the previous one, and leaving
it out lets an event's canonical JSON be computed before the chain lock is taken.
docs/internals.md repeats this definition.

There is one chain per project (`AuditEvent.chain`, `AuditChainHead`): chain 1 is the
default project's, and holds every event stored before chains split. Linking serialises on
the chain's head row lock, so a chain has no gaps or forks, and two projects' events link at
the same time; a batch spanning chains locks their heads in id order. Events reach a chain
two ways:
- linked appends (`chain_append(link=True)`, everything but single-event ingest) take the
  lock, first link every pending event visible to them, then link and insert their own;
- pending inserts (`link=False`, `POST /audit/v1/event`) store the event committed and
  durable with seq/prev_hash/hash NULL, without the lock, so concurrent ingest commits are
  not serialised. `chain_link_pending` links them (id order, chain by chain) from the
  worker's tick, before verification and before retention.
"""

import hashlib
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Max

from audits.anchors import Anchor, AnchorFileInvalid, anchors_beyond, anchors_read
from audits.models import (
    DEFAULT_CHAIN,
    DEFAULT_ENVIRONMENT_ID,
    DEFAULT_PROJECT_ID,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditSource,
)

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
PENDING_BATCH = 5000

HASHED_FIELDS = (
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


# The canonical form's key order, read in that order: the encoder then need not sort the
# top level (half its cost). Nested objects are sorted by `_canonical_json`, as sort_keys would.
_CANONICAL_ORDER = tuple(sorted(HASHED_FIELDS))
_get_hashed = attrgetter(*_CANONICAL_ORDER)
_TIME_INDEXES = tuple(_CANONICAL_ORDER.index(name) for name in ("created_at", "received_at"))
_ADDRESS_INDEX = _CANONICAL_ORDER.index("remote_address")
_JSON_INDEXES = tuple(
    _CANONICAL_ORDER.index(name) for name in ("audited_changes", "fields", "metadata")
)
# Hashed only when non-empty: added after the chain's first release, so leaving them out
# when empty keeps every earlier event's canonical form, and hash, unchanged.
OPTIONAL_HASHED_FIELDS = ("actor_fields", "target_fields", "retraced_id", "receipt_hash")
_get_optional = attrgetter(*OPTIONAL_HASHED_FIELDS)
# Hashed only when not the default tenancy, which every event stored before tenancy existed
# belongs to: moving an event to another project or environment breaks the chain.
TENANCY_HASHED_FIELDS = {"project": DEFAULT_PROJECT_ID, "environment": DEFAULT_ENVIRONMENT_ID}
_get_tenancy = attrgetter(*TENANCY_HASHED_FIELDS)
_DEFAULT_TENANCY = tuple(TENANCY_HASHED_FIELDS.values())
# One encoder, built once: no whitespace, UTF-8 kept (json.dumps would build it per call).
# orjson is not used: its float and big-integer output differs from json's (1e+16 vs 1e16),
# and the canonical form must not change with the library.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_SORTING_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _jsonb_stable_float(value: float) -> float | int:
    """
    A float as PostgreSQL's jsonb returns it. jsonb keeps numbers as numeric, which holds the
    exact decimal value of the JSON text and prints it without an exponent and without a
    negative zero: json writes 1e16 as "1e+16" and jsonb gives back 10000000000000000, which
    json reads as an int; -0.0 comes back as 0.0. Either would make an event hashed before
    storage fail verification after. Every other float jsonb returns as written ("1e-07" is
    printed 0.0000001, which reads back as the same float), so its canonical text, and every
    earlier event's hash, is unchanged.
    """
    if value == 0.0:
        return 0.0
    text = float.__repr__(value)  # what json writes
    if "e+" in text:
        return int(Decimal(text))
    return value


def _canonical_json(value: Any) -> Any:
    """
    `value` with every object's keys in sorted order, as json's sort_keys=True emits them,
    and its floats as jsonb returns them (`_jsonb_stable_float`).
    """
    if isinstance(value, dict):
        return {key: _canonical_json(item) for key, item in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical_json(item) for item in value]
    if isinstance(value, float):
        return _jsonb_stable_float(value)
    return value


@lru_cache(maxsize=1024)
def _canonical_time(value: datetime) -> str:
    # Cached: a batch shares one received_at, and often one created_at.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canonical_value(value):
    if isinstance(value, datetime):
        return _canonical_time(value)
    return value


@lru_cache(maxsize=4096)
def _compressed_ip(value: str) -> str:
    address = ipaddress.ip_address(value)
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        # GenericIPAddressField stores fe80::1%eth0 as fe80::1: hash what is stored. (The
        # Audit API refuses a zone; this covers addresses from a request's context.)
        address = ipaddress.IPv6Address(int(address))
    return address.compressed


def normalize_ip(value: str | None) -> str | None:
    """The address compressed and without a zone, as stored; ValueError if not an address."""
    # Cached: ingest sees the same few addresses over and over, and parsing is not free.
    return _compressed_ip(value) if value else None


def canonical(event: AuditEvent) -> str:
    values = list(_get_hashed(event))
    for index in _TIME_INDEXES:
        values[index] = _canonical_value(values[index])
    values[_ADDRESS_INDEX] = normalize_ip(values[_ADDRESS_INDEX])
    for index in _JSON_INDEXES:
        if values[index]:  # mostly {}
            values[index] = _canonical_json(values[index])
    document = dict(zip(_CANONICAL_ORDER, values, strict=True))
    optional = _get_optional(event)
    tenancy = _get_tenancy(event)
    # Site events and Replicated ingest have none of these: the presorted order holds. A
    # Retraced event (receipt, tenancy) adds keys, so the whole document is sorted.
    if any(optional) or tenancy != _DEFAULT_TENANCY:
        document.update(
            (k, _canonical_json(v))
            for k, v in zip(OPTIONAL_HASHED_FIELDS, optional, strict=True)
            if v
        )
        document.update(
            (k, v)
            for k, v, default in zip(TENANCY_HASHED_FIELDS, tenancy, _DEFAULT_TENANCY, strict=True)
            if v != default
        )
        return _SORTING_ENCODER.encode(document)
    return _ENCODER.encode(document)


# Each hashed field's `"key":` with the separator before it, for canonical_many.
_KEY_PREFIXES = tuple(
    ("{" if index == 0 else ",") + _ENCODER.encode(name) + ":"
    for index, name in enumerate(_CANONICAL_ORDER)
)


def _has_sorted_extras(event: AuditEvent) -> bool:
    """Whether `canonical` sorts the event's whole document (optional or tenancy keys)."""
    return any(_get_optional(event)) or _get_tenancy(event) != _DEFAULT_TENANCY


def _canonical_piece(index: int, value: Any) -> str:
    """`"key":value` of the field at `index` of _CANONICAL_ORDER, as `canonical` writes it."""
    if index in _TIME_INDEXES:
        value = _canonical_value(value)
    elif index == _ADDRESS_INDEX:
        value = normalize_ip(value)
    elif index in _JSON_INDEXES and value:
        value = _canonical_json(value)
    return _KEY_PREFIXES[index] + _ENCODER.encode(value)


def written_alike(column: tuple) -> bool:
    """
    Whether every value of a column is written alike: equal and of one type (1 == True ==
    1.0, but each is written differently). A JSON column counts only when all are empty,
    because equal maps may hold numbers written differently ({"a": 1} == {"a": 1.0}).
    """
    first = column[0]
    if isinstance(first, dict | list):
        return not any(column)
    return column.count(first) == len(column) and len(set(map(type, column))) == 1


def canonical_many(events: list[AuditEvent]) -> list[str]:
    """
    `[canonical(e) for e in events]`, byte for byte, for a batch. A bulk request's events share
    most of their fields (the request's token, address, times, defaults): each field that is
    written alike for the whole batch is encoded once, so only the varying ones are encoded
    per event. Events whose document `canonical` sorts whole (a receipt, a tenancy) are
    encoded one by one.
    """
    plain = [e for e in events if not _has_sorted_extras(e)]
    if len(plain) < 2:
        return [canonical(e) for e in events]
    rows = [_get_hashed(e) for e in plain]
    columns = list(zip(*rows, strict=True))
    # The document as literal runs around the varying fields: [run, field, run, field, ..., run].
    varying: list[int] = []
    runs: list[list[str]] = [[]]
    for index, column in enumerate(columns):
        if written_alike(column):
            runs[-1].append(_canonical_piece(index, column[0]))
        else:
            varying.append(index)
            runs.append([])
    runs[-1].append("}")
    literals = ["".join(run) for run in runs]
    pieces: dict[tuple, str] = {}  # a batch repeats values: each is encoded once
    encoded: dict[int, str] = {}
    for event, row in zip(plain, rows, strict=True):
        parts = [literals[0]]
        for index, literal in zip(varying, literals[1:], strict=True):
            value = row[index]
            if isinstance(value, dict | list):
                parts.append(_canonical_piece(index, value))
            else:
                key = (index, type(value), value)
                piece = pieces.get(key)
                if piece is None:
                    piece = pieces[key] = _canonical_piece(index, value)
                parts.append(piece)
            parts.append(literal)
        encoded[id(event)] = "".join(parts)
    return [encoded.get(id(e)) or canonical(e) for e in events]


def link_hash(prev_hash: str, event: AuditEvent) -> str:
    return chain_hash(prev_hash, canonical(event))


def chain_hash(prev_hash: str, canonical_json: str) -> str:
    return hashlib.sha256((prev_hash + canonical_json).encode()).hexdigest()


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


def chain_ids() -> list[int]:
    """Every chain's id in order, the default's included (a flushed test database lacks even
    its head until the first append)."""
    return sorted({DEFAULT_CHAIN, *AuditChainHead.objects.values_list("id", flat=True)})


def chain_of_project(project: str) -> int:
    """The chain id of `project`'s events, its head made (empty) with its first event. In the
    caller's transaction: a head made here is seen by others once that commits, and a second
    maker waits for it, then takes the same id."""
    if project == DEFAULT_PROJECT_ID:
        return DEFAULT_CHAIN
    found = AuditChainHead.objects.filter(project=project).values_list("id", flat=True).first()
    while found is None:
        next_id = max(AuditChainHead.objects.aggregate(top=Max("id"))["top"] or 0, 1) + 1
        try:
            with transaction.atomic():
                found = AuditChainHead.objects.create(id=next_id, project=project).id
        except IntegrityError:  # another transaction made this project's head, or took the id
            found = (
                AuditChainHead.objects.filter(project=project).values_list("id", flat=True).first()
            )
    return found


def _chains_assign(events: list[AuditEvent]) -> None:
    chains: dict[str, int] = {}
    for event in events:
        project = event.project or DEFAULT_PROJECT_ID
        if project not in chains:
            chains[project] = chain_of_project(project)
        event.chain = chains[project]


def chain_append(events: list[AuditEvent], *, link: bool = True, persist=None) -> list[AuditEvent]:
    """
    Store `events` in order, in the caller's transaction. `persist(events)` stores them
    (bulk_create by default; the bulk ingest path passes a COPY writer).

    link=True takes the head lock of each chain the events belong to (their projects'), links
    the pending events of those chains visible to it, then links and stores `events`.
    link=False stores them pending (seq/prev_hash/hash NULL) without a lock;
    `chain_link_pending` links them later. Events that need a per-record version are always
    linked: the version is assigned under the lock.
    """
    for event in events:
        event.remote_address = normalize_ip(event.remote_address)
    _chains_assign(events)
    if not link and not any(getattr(e, "assign_version", False) for e in events):
        for event in events:
            event.seq = event.prev_hash = event.hash = None
        (persist or _bulk_create)(events)
        return events
    # Everything but the versions is final: canonical JSON now, outside the lock.
    if any(getattr(e, "assign_version", False) for e in events):
        canonicals = [None if getattr(e, "assign_version", False) else canonical(e) for e in events]
    else:
        canonicals = canonical_many(events)
    # No savepoint of its own: a failure rolls back the caller's transaction anyway, and a
    # RELEASE SAVEPOINT would be one more round trip while the chain head is locked.
    with transaction.atomic(savepoint=False):
        heads = chain_heads_locked({event.chain for event in events})
        for head in heads.values():
            chain_link_pending_locked(head)
        _next_versions(events)
        ends = {head.id: (head.last_seq, head.last_hash) for head in heads.values()}
        for event, canonical_json in zip(events, canonicals, strict=True):
            seq, prev = ends[event.chain]
            event.seq = seq + 1
            event.prev_hash = prev
            event.hash = chain_hash(prev, canonical_json or canonical(event))
            ends[event.chain] = (event.seq, event.hash)
        (persist or _bulk_create)(events)
        for head in heads.values():
            head.last_seq, head.last_hash = ends[head.id]
            head.save(update_fields=["last_seq", "last_hash"])
    return events


def chain_heads_locked(chains: Iterable[int]) -> dict[int, AuditChainHead]:
    """The heads of `chains`, locked in id order (every locker takes them in that order, so
    none waits on another in a cycle)."""
    wanted = sorted(set(chains))
    heads = {
        head.id: head
        for head in AuditChainHead.objects.select_for_update().filter(id__in=wanted).order_by("id")
    }
    if DEFAULT_CHAIN in wanted and DEFAULT_CHAIN not in heads:
        # Migration 0002 creates the default chain's row; a flushed database (the test
        # runner empties every table between transactional tests) lacks it. get_or_create
        # settles a race. Another chain's row exists from its first event on.
        AuditChainHead.objects.get_or_create(
            pk=DEFAULT_CHAIN, defaults={"project": DEFAULT_PROJECT_ID}
        )
        return chain_heads_locked(wanted)
    return heads


def chain_head_locked(chain: int = DEFAULT_CHAIN) -> AuditChainHead:
    return chain_heads_locked([chain])[chain]


def _bulk_create(events: list[AuditEvent]) -> None:
    AuditEvent.objects.bulk_create(events, batch_size=500)


def pending_count() -> int:
    return AuditEvent.objects.filter(seq__isnull=True).count()


def chain_link_pending(*, limit: int = PENDING_BATCH, skip_locked: bool = False) -> int:
    """
    Link the pending events (stored by single-event ingest) in id order, chain by chain,
    `limit` per transaction, until none remain; returns how many were linked. Cheap when
    there are none: one indexed read and no lock. Called from the worker's tick and before
    verification and retention. `skip_locked` (the worker's tick) leaves a chain whose head
    another process holds to that process, so two workers link two chains at once.
    """
    linked = 0
    chains = sorted(
        AuditEvent.objects.filter(seq__isnull=True)
        .order_by()
        .values_list("chain", flat=True)
        .distinct()
    )
    known = set(AuditChainHead.objects.filter(id__in=chains).values_list("id", flat=True))
    for chain in chains:
        if chain not in known and chain != DEFAULT_CHAIN:
            # Only chain_append gives events a chain, after making its head: a row naming
            # another was inserted around the site, and is left unlinked.
            logger.warning("Pending audit events name chain %s, which has no head.", chain)
            continue
        while True:
            with transaction.atomic():
                if skip_locked:
                    head = (
                        AuditChainHead.objects.select_for_update(skip_locked=True)
                        .filter(id=chain)
                        .first()
                    )
                    if head is None:
                        if AuditChainHead.objects.filter(id=chain).exists():
                            break  # another process links this chain now
                        head = chain_head_locked(chain)  # a flushed database's default chain
                else:
                    head = chain_head_locked(chain)
                count = _link_pending_locked(head, limit=limit)
            linked += count
            if count < limit:
                break
    return linked


def chain_link_pending_locked(head: AuditChainHead) -> int:
    """Link every pending event of the head's chain visible now; the caller holds `head`."""
    linked = 0
    while (count := _link_pending_locked(head, limit=PENDING_BATCH)) > 0:
        linked += count
        if count < PENDING_BATCH:
            break
    return linked


def _link_pending_locked(head: AuditChainHead, *, limit: int) -> int:
    """
    Under the head lock: link up to `limit` pending events of its chain after the head, in
    id order, with one bulk UPDATE, and move the head. Read Committed gives each statement a
    fresh snapshot, so after the lock wait this sees every pending row committed so far; one
    committed later is linked by the next call. Returns how many were linked.
    """
    pending = list(
        AuditEvent.objects.filter(seq__isnull=True, chain=head.id).order_by("id")[:limit]
    )
    if not pending:
        return 0
    prev, seq = head.last_hash, head.last_seq
    for event in pending:
        seq += 1
        event.seq = seq
        event.prev_hash = prev
        prev = event.hash = link_hash(prev, event)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # The append-only trigger lets exactly this through: seq/prev_hash/hash set on a
            # row that had none, every other column unchanged (migration 0007).
            cursor.execute(
                f"UPDATE {AuditEvent._meta.db_table} AS e "
                "SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], %s::varchar[]) "
                "AS v(id, seq, prev_hash, hash) "
                "WHERE e.id = v.id AND e.seq IS NULL",
                [
                    [e.pk for e in pending],
                    [e.seq for e in pending],
                    [e.prev_hash for e in pending],
                    [e.hash for e in pending],
                ],
            )
            updated = cursor.rowcount
    else:
        updated = AuditEvent.objects.bulk_update(
            pending, ["seq", "prev_hash", "hash"], batch_size=500
        )
    if updated != len(pending):  # impossible under the lock; never leave a gap
        raise RuntimeError(f"linked {updated} of {len(pending)} pending audit events")
    head.last_seq, head.last_hash = seq, prev
    head.save(update_fields=["last_seq", "last_hash"])
    return len(pending)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    verified: int
    message: str
    broken_seq: int | None = None
    broken_id: int | None = None
    # Events stored after the pre-verification link, not yet covered (linked by the worker).
    pending: int = 0
    # The chain the break is in (1: the default project's).
    broken_chain: int | None = None

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "verified": self.verified,
            "message": self.message,
            "broken_seq": self.broken_seq,
            "broken_id": self.broken_id,
            "broken_chain": self.broken_chain,
            "pending": self.pending,
        }


def _start(chain: int) -> tuple[AuditCheckpoint | None, int, str]:
    checkpoint = AuditCheckpoint.objects.filter(chain=chain).order_by("-seq").first()
    if checkpoint is None:
        return None, 0, GENESIS_HASH
    return checkpoint, checkpoint.seq, checkpoint.hash


def _checkpoint_vouched(checkpoint: AuditCheckpoint) -> bool:
    """
    Whether a linked `audit.expire` event recorded it: in the default chain (where the
    site's own events are), after the checkpoint when it is that chain's, naming the
    checkpoint's chain (none named: the default). The walk verifies that event, so a
    checkpoint is only as good as the chain that records it. Expiries recorded before
    `checkpoint_hash` existed vouch by their seq alone.
    """
    expiries = AuditEvent.objects.filter(
        action="audit.expire",
        source=AuditSource.SYSTEM,
        chain=DEFAULT_CHAIN,
        seq__isnull=False,
        audited_changes__through_seq=checkpoint.seq,
    )
    if checkpoint.chain == DEFAULT_CHAIN:
        expiries = expiries.filter(seq__gt=checkpoint.seq)
    return any(
        changes.get("chain", DEFAULT_CHAIN) == checkpoint.chain
        and changes.get("checkpoint_hash", checkpoint.hash) == checkpoint.hash
        for changes in expiries.values_list("audited_changes", flat=True)
    )


# How often a verification reports how far it got (a chunk of the walk's server-side cursor).
VERIFY_PROGRESS_EVERY = 2000


def audit_chain_verify(
    *, link_pending: bool = True, progress: Callable[[int], None] | None = None
) -> VerifyResult:
    """
    Link the pending events first (so they are covered), then walk each chain in `seq`
    order, the default project's first, and report the first broken link: an edited row
    (its hash no longer matches its content), a deleted row (a gap in seq) or a reordered or
    inserted row (its prev_hash is not the previous row's hash). Each chain is also held to
    its anchors (audits/anchors.py): an anchor file line with a bad signature, an anchored
    (seq, hash) the table no longer has, or a chain or head behind its last anchor is
    reported. `progress`, if given, is called with the number of events verified so far every
    VERIFY_PROGRESS_EVERY events (the background job shows it).
    """
    if link_pending:
        chain_link_pending()
    # Read before the walks: every anchor is of a head committed before it, so the walk (a
    # later snapshot) must find each anchored (seq, hash) it has not expired.
    try:
        anchors = anchors_read()
    except AnchorFileInvalid as error:
        return VerifyResult(False, 0, f"Chain anchors cannot be trusted: {error}")
    heads = list(AuditChainHead.objects.order_by("id").values_list("id", "project"))
    if not any(chain == DEFAULT_CHAIN for chain, _ in heads):
        heads.insert(0, (DEFAULT_CHAIN, DEFAULT_PROJECT_ID))
    verified = 0

    def chain_progress(count: int) -> None:
        if progress is not None:
            progress(verified + count)

    for chain, project in heads:
        result = _verify_chain(chain, anchors=anchors, progress=chain_progress)
        if not result.ok:
            message = result.message
            if chain != DEFAULT_CHAIN:
                message = f"Chain {chain} (project {project!r}): {message}"
            return VerifyResult(
                False,
                verified + result.verified,
                message,
                result.broken_seq,
                result.broken_id,
                broken_chain=chain,
            )
        verified += result.verified
    chains = f" in {len(heads)} chains" if len(heads) > 1 else ""
    return VerifyResult(
        True, verified, f"verified {verified} events{chains}", pending=pending_count()
    )


def _verify_chain(
    chain: int, *, anchors: list[Anchor], progress: Callable[[int], None]
) -> VerifyResult:
    """One chain's walk (audit_chain_verify); messages name seqs of this chain."""
    checkpoint, expected_seq, prev = _start(chain)
    mine = [anchor for anchor in anchors if anchor.chain == chain]
    last_anchor = max(mine, key=attrgetter("seq"), default=None)
    anchored = anchors_beyond(mine, after_seq=expected_seq)
    at_checkpoint = next((a for a in mine if checkpoint and a.seq == checkpoint.seq), None)
    if at_checkpoint is not None and at_checkpoint.hash != checkpoint.hash:
        return _anchor_disagrees(at_checkpoint, checkpoint.hash, 0, None)
    if checkpoint is not None and not _checkpoint_vouched(checkpoint):
        return VerifyResult(
            False,
            0,
            f"Chain broken at seq {checkpoint.seq + 1}: the retention checkpoint at seq "
            f"{checkpoint.seq} is not recorded by any audit.expire event in the chain (the "
            "events before it were deleted outside audits_expire, or the checkpoint was "
            "forged).",
            checkpoint.seq + 1,
            None,
        )
    # The head before the walk: a head commits with its events, so the walk (a later
    # snapshot) sees at least every seq up to it. Appends during the walk may move it on.
    head_before = AuditChainHead.objects.filter(pk=chain).first()
    events = (
        AuditEvent.objects.filter(chain=chain, seq__isnull=False)
        .order_by("seq")
        .iterator(chunk_size=VERIFY_PROGRESS_EVERY)
    )
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
        if anchored and (anchor := anchored.get(event.seq)) and anchor.hash != event.hash:
            return _anchor_disagrees(anchor, event.hash, verified, event.pk)
        prev = event.hash
        verified += 1
        if verified % VERIFY_PROGRESS_EVERY == 0:
            progress(verified)
    head = AuditChainHead.objects.filter(pk=chain).first()
    if last_anchor is not None and (
        last_anchor.seq > expected_seq or (head and head.last_seq < last_anchor.seq)
    ):
        head_seq = head.last_seq if head else 0
        return VerifyResult(
            False,
            verified,
            f"Chain rewound or truncated: the anchor of {last_anchor.at} (line "
            f"{last_anchor.line} of the anchor file) records seq {last_anchor.seq}, but the "
            f"chain ends at seq {expected_seq} and its head is at seq {head_seq}.",
            min(expected_seq, head_seq) + 1,
            None,
        )
    if head_before and head_before.last_seq > expected_seq:
        return VerifyResult(
            False,
            verified,
            f"Chain broken at the end: the head records seq {head_before.last_seq} but the "
            f"last event is seq {expected_seq} (trailing events deleted).",
            expected_seq + 1,
            None,
        )
    if head and head.last_seq < expected_seq:
        return VerifyResult(
            False,
            verified,
            f"Chain broken at the end: events up to seq {expected_seq} follow the head at "
            f"seq {head.last_seq} (inserted after the head).",
            head.last_seq + 1,
            None,
        )
    return VerifyResult(True, verified, f"verified {verified} events")


def chain_length_to_verify() -> int:
    """How many events a verification would walk now: linked since each chain's checkpoint,
    plus pending. A few indexed reads, so a request can decide whether to walk in place."""
    length = pending_count()
    for chain, last_seq in AuditChainHead.objects.values_list("id", "last_seq"):
        _, start_seq, _ = _start(chain)
        length += max(last_seq - start_seq, 0)
    return length


def _anchor_disagrees(anchor: Anchor, found: str, verified: int, event_id: int | None):
    return VerifyResult(
        False,
        verified,
        f"Chain rewritten at seq {anchor.seq}: the anchor of {anchor.at} (line {anchor.line} of "
        f"the anchor file) records hash {anchor.hash[:16]}…, the database has {found[:16]}… "
        "(the chain was rewound and appended again, or rewritten).",
        anchor.seq,
        event_id,
    )


def database_is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def audit_worker_tick() -> None:
    """The worker's tick hook (registered in AuditsConfig.ready): link pending events, each
    chain by one worker at a time while others take the other chains."""
    chain_link_pending(skip_locked=True)
