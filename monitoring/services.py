"""Writes other than result processing (which lives in monitoring/engine.py)."""

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    models,
    transaction,
)
from django.utils import timezone

from audits.chain import chain_head_locked
from audits.context import AuditTarget
from audits.models import AuditSource, Crud
from audits.services import audit_event_record
from monitoring.engine import ResultInput, UnknownEvent, event_resolve, results_process
from monitoring.models import (
    AggregateMember,
    CheckDefinition,
    CheckResult,
    Client,
    ClientType,
    Event,
    Silence,
    Stash,
    TransportReceipt,
    epoch_now,
    silence_key,
)
from monitoring.scheduler import check_definition_document, check_requests_publish

logger = logging.getLogger(__name__)

# Two parameters a row: well under SQLite's and PostgreSQL's limits per statement.
RECEIPTS_PER_STATEMENT = 1000

CLIENT_FIELDS = {"name", "address", "subscriptions", "keepalives", "keepalive", "version", "type"}


@transaction.atomic
def client_register(*, data: dict[str, Any], version: str = "") -> Client:
    """
    Sensu's POST /clients: the server sets keepalives (default false), timestamp=now and
    adds the `client:<name>` subscription. A client that posts `keepalives: true` is
    watched by the keepalive monitor, so repeating the POST is its keepalive. Posting a name
    again updates that client, concurrent first posts included.
    """
    name = data["name"]
    subscriptions = list(data.get("subscriptions") or [])
    if f"client:{name}" not in subscriptions:
        subscriptions.append(f"client:{name}")

    def fill(client: Client) -> None:
        client.address = data.get("address", client.address if client.pk else "unknown")
        client.subscriptions = subscriptions
        client.keepalives = bool(data.get("keepalives", False))
        client.keepalive = data.get("keepalive") or {}
        client.version = str(data.get("version") or version)[:64]
        client.type = ClientType.PROXY if data.get("type") == "proxy" else ClientType.STANDARD
        client.timestamp = epoch_now()
        client.attributes = {
            k: v for k, v in data.items() if k not in CLIENT_FIELDS | {"timestamp"}
        }

    return _upsert(Client, {"name": name}, new=lambda: Client(name=name), fill=fill)


class ClientSignatureMismatch(Exception):
    """A keepalive whose signature differs from the one the client registered first."""


# Keepalive keys that are not attributes: the client's fields, the agent's timestamp, and the
# signature (kept apart, as Sensu keeps it in its own key).
KEEPALIVE_FIELDS = CLIENT_FIELDS | {"timestamp", "signature"}


@transaction.atomic
def client_keepalive_record(*, data: dict[str, Any]) -> Client:
    """
    A keepalive from an agent on the transport, as Sensu's `update_client_registry`: the
    client is created or replaced by what the agent sent (its definition, version and
    timestamp), its subscriptions gain `client:<name>`, and keepalives are on unless the agent
    turned them off (Sensu's keepalive monitor skips only `keepalives: false`). The first
    signature sent is stored; from then on a keepalive with another signature (or none) is
    refused with ClientSignatureMismatch and nothing changes. `data` is validated by the
    wire layer (monitoring.sensu.validation KEEPALIVE_RULES).
    """
    name = data["name"]
    signature = data.get("signature") or ""
    subscriptions = list(data.get("subscriptions") or [])
    if f"client:{name}" not in subscriptions:
        subscriptions.append(f"client:{name}")

    def fill(client: Client) -> None:
        if client.signature and signature != client.signature:
            raise ClientSignatureMismatch(f"Keepalive for {name!r} with an invalid signature.")
        if signature and not client.signature:
            client.signature = signature
        client.address = data.get("address") or "unknown"
        client.subscriptions = subscriptions
        client.keepalives = data.get("keepalives") is not False
        client.keepalive = data.get("keepalive") or {}
        client.version = str(data.get("version") or "")[:64]
        client.type = ClientType.PROXY if data.get("type") == "proxy" else ClientType.STANDARD
        timestamp = data.get("timestamp")
        client.timestamp = timestamp if isinstance(timestamp, int) else epoch_now()
        client.attributes = {k: v for k, v in data.items() if k not in KEEPALIVE_FIELDS}

    return _upsert(Client, {"name": name}, new=lambda: Client(name=name), fill=fill)


@dataclass(frozen=True)
class TransportResult:
    """A result message taken off the transport's `results` queue, validated."""

    # sha256 of the message body: its TransportReceipt.
    digest: str
    # RabbitMQ delivers it again: a worker took it and died before acknowledging it.
    redelivered: bool
    client_name: str
    check: dict[str, Any]
    signature: str | None = None


def transport_results_process(*, results: list[TransportResult]) -> int:
    """
    A batch off the transport's `results` queue through the engine (as Sensu's
    `process_check_result`), in ONE transaction that also records each message's receipt, so
    the caller acknowledges the batch only after it is stored. A redelivered message whose
    receipt is already recorded was processed before its worker died: it is skipped. A result
    whose client has a signature must carry it (Sensu's `retrieve_client`), or it is dropped
    and logged. If the batch fails (not for a database outage, which is raised so nothing is
    acknowledged) each result is retried alone and one that fails again is dropped and
    logged, as Sensu acknowledges a result it cannot process. Returns how many the engine
    processed.
    """
    try:
        with transaction.atomic():
            return _transport_results_store(results)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        logger.exception("A batch of %d transport results failed; one by one.", len(results))
    processed = 0
    for result in results:
        try:
            with transaction.atomic():
                processed += _transport_results_store([result])
        except (OperationalError, InterfaceError):
            raise
        except Exception:
            logger.exception(
                "Dropping transport result %s for %s.", result.digest, result.client_name
            )
    return processed


def _transport_results_store(results: list[TransportResult]) -> int:
    recorded = _receipts_record([result.digest for result in results])
    fresh = [result for result in results if not result.redelivered or result.digest in recorded]
    names = {result.check.get("source") or result.client_name for result in fresh}
    signatures = dict(
        Client.objects.filter(name__in=names).exclude(signature="").values_list("name", "signature")
    )
    items = []
    for result in fresh:
        name = result.check.get("source") or result.client_name
        if name in signatures and result.signature != signatures[name]:
            logger.warning(
                "Dropping a result for %s/%s: invalid client signature.",
                name,
                result.check.get("name"),
            )
            continue
        items.append(ResultInput(client_name=result.client_name, check=result.check))
    results_process(items)
    return len(items)


def _receipts_record(digests: list[str]) -> set[str]:
    """
    Record these digests; returns those that were not recorded before. A digest another
    transaction is recording (the dying worker's commit in flight) waits for it, so a
    redelivered message is processed by exactly one of them.
    """
    unique = list(dict.fromkeys(digests))
    if not unique:
        return set()
    table = connection.ops.quote_name(TransportReceipt._meta.db_table)
    received_at = connection.ops.adapt_datetimefield_value(timezone.now())
    recorded: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(unique), RECEIPTS_PER_STATEMENT):
            chunk = unique[start : start + RECEIPTS_PER_STATEMENT]
            # INSERT ... ON CONFLICT DO NOTHING RETURNING: PostgreSQL and SQLite 3.35+ alike.
            cursor.execute(
                f"INSERT INTO {table} (digest, received_at) VALUES "
                + ", ".join(["(%s, %s)"] * len(chunk))
                + " ON CONFLICT (digest) DO NOTHING RETURNING digest",
                [value for digest in chunk for value in (digest, received_at)],
            )
            recorded.update(row[0] for row in cursor.fetchall())
    return recorded


def transport_receipts_purge(*, batch_size: int = 10_000) -> int:
    """
    Forget the digests of transport results older than MONITORING_TRANSPORT_RECEIPT_HOURS
    (a redelivery comes within seconds of a worker's death), at most `batch_size` at a time
    so a long backlog never holds one long transaction. Returns how many were deleted.
    """
    horizon = timezone.now() - timedelta(hours=settings.MONITORING_TRANSPORT_RECEIPT_HOURS)
    deleted = 0
    while True:
        digests = list(
            TransportReceipt.objects.filter(received_at__lt=horizon)
            .order_by("received_at")
            .values_list("digest", flat=True)[:batch_size]
        )
        if not digests:
            return deleted
        deleted += TransportReceipt.objects.filter(digest__in=digests).delete()[0]
        if len(digests) < batch_size:
            return deleted


def _upsert[M: models.Model](
    model: type[M], key: dict[str, Any], *, new: Callable[[], M], fill: Callable[[M], None]
) -> M:
    """
    Sensu's POSTs replace what they name: update the row `key` finds, else insert one. Of two
    concurrent first POSTs one inserts and the other, refused by the unique key, updates
    (no duplicate-key 500). Call inside a transaction.

    The row lock is FOR NO KEY UPDATE: an engine run holding the audit chain head inserts
    events that reference the client, and their foreign-key checks take KEY SHARE on its
    row. FOR UPDATE would block them while this transaction waits for the chain head (its
    save is audited) in turn: a deadlock. NO KEY UPDATE lets them through.
    """
    row = model.objects.select_for_update(no_key=True).filter(**key).first()
    if row is None:
        row = new()
        fill(row)
        try:
            with transaction.atomic():  # A savepoint: a lost race rolls back only the insert.
                row.save()
            return row
        except IntegrityError:
            row = model.objects.select_for_update(no_key=True).get(**key)
    fill(row)
    row.save()
    return row


# Sensu's delayed delete polls for the events to be gone up to 5 times; so does this.
CLIENT_DELETE_ATTEMPTS = 5
CLIENT_DELETE_PAUSE_SECONDS = 0.1
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for FOR UPDATE NOWAIT on a locked row.


class ClientDeleteConflict(RuntimeError):
    """The client kept getting events (or stayed locked) through every delete attempt."""


def client_delete(*, client: Client) -> int:
    """
    Sensu's delayed client delete: resolve every event through the engine (so the resolves
    are recorded like any other), then delete the client with its results and history.
    Never deletes an event the engine has not resolved: an event opened after the resolves
    sends the delete round again. Returns `issued`.
    """
    issued = epoch_now()
    for attempt in range(1, CLIENT_DELETE_ATTEMPTS + 1):
        for check_name in list(client.events.values_list("check_name", flat=True)):
            # An event resolved meanwhile by an OK result was audited by that run.
            with contextlib.suppress(UnknownEvent):
                event_resolve(client_name=client.name, check_name=check_name)
        try:
            if _client_delete_without_events(client=client):
                return issued
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            # The client row is held, typically by a client_register waiting for the audit
            # chain this attempt holds: let it finish, then try again.
            if attempt < CLIENT_DELETE_ATTEMPTS:
                time.sleep(CLIENT_DELETE_PAUSE_SECONDS * attempt)
    raise ClientDeleteConflict(
        f"Client {client.name!r} still had events or was locked after "
        f"{CLIENT_DELETE_ATTEMPTS} attempts; nothing was deleted."
    )


def _client_delete_without_events(*, client: Client) -> bool:
    """
    Delete the client if it has no event, in one transaction in which no event can appear;
    False (and nothing deleted) if one is open. The locks follow the engine's order, so this
    cannot deadlock with it: result rows, then the audit chain head (every engine run that
    opens an event appends its audit under it, so none can commit until this one has), then
    the client row (taken by the engine's foreign-key checks at commit). NOWAIT on the
    client row: client_register holds it while it waits for the chain head.
    """
    with transaction.atomic():
        # Runs on this client's existing pairs wait here, in the engine's lock order.
        list(
            CheckResult.objects.select_for_update()
            .filter(client=client)
            .order_by("check_name")
            .values_list("pk", flat=True)
        )
        chain_head_locked()
        locked = Client.objects.select_for_update(nowait=True).filter(pk=client.pk).first()
        if locked is None:
            return True  # Deleted meanwhile (audited by that delete).
        if Event.objects.filter(client=locked).exists():
            return False  # Opened after the resolves: resolve it through the engine first.
        # A run that opens an event meanwhile commits after this; its foreign-key check
        # then fails and it rolls back, audit included: no event is left unaudited.
        locked.delete()
    return True


@transaction.atomic
def result_delete(*, result: CheckResult) -> None:
    result.delete()


@transaction.atomic
def check_results_delete(*, check_name: str) -> None:
    """Sensu 1.6's DELETE /checks/:check: forget every result and history of the check."""
    CheckResult.objects.filter(check_name=check_name).delete()


def check_request(
    *,
    check: CheckDefinition,
    subscribers: list[str] | None,
    reason: str | None,
    creator: str | None,
) -> int:
    """
    Sensu's POST /request (lib/sensu/api/routes/request.rb): the definition with `name`, the
    request's `subscribers` in place of its own when given, and `api_requested` {reason,
    creator}, published to the agents as the scheduler publishes it (proxy requests
    included, as api/utilities/publish_check_request.rb). Recorded in the audit trail once
    published. Raises monitoring.bus.TransportUnavailable when it cannot be published:
    Sensu answered 202 and logged the failure; a request is never dropped silently here.
    """
    document = check_definition_document(check)
    document["subscribers"] = list(document.get("subscribers") or [])
    if subscribers is not None:
        document["subscribers"] = subscribers
    document["api_requested"] = {"reason": reason, "creator": creator}
    issued = epoch_now()
    check_requests_publish(document, issued=issued)
    audit_event_record(
        action="request",
        crud=Crud.CREATE,
        source=AuditSource.SITE,
        target=AuditTarget(type="CheckDefinition", id=str(check.pk), name=check.name),
        description=f"Check request for {check.name}" + (f": {reason}" if reason else ""),
        audited_changes={
            "check": check.name,
            "subscribers": document["subscribers"],
            "api_requested": document["api_requested"],
            "issued": issued,
        },
    )
    return issued


@transaction.atomic
def silence_create(
    *,
    subscription: str | None,
    check: str | None,
    reason: str | None = None,
    creator: str | None = None,
    begin: int | None = None,
    expire: int | None = None,
    expire_on_resolve: bool = False,
) -> Silence:
    """Sensu's POST /silenced. Posting the same id again overwrites the entry."""
    now = timezone.now()
    begin_at = datetime.fromtimestamp(begin, tz=UTC) if begin else None
    expires_at = None
    if expire is not None and expire >= 0:
        # Redis EXPIRE starts now; Sensu extends it by the wait until `begin`.
        delay = max((begin_at - now).total_seconds(), 0) if begin_at else 0
        expires_at = now + timedelta(seconds=expire + delay)

    def fill(silence: Silence) -> None:
        silence.reason = reason
        silence.creator = creator
        silence.begin = begin_at
        silence.expire = expire
        silence.expires_at = expires_at
        silence.expire_on_resolve = expire_on_resolve
        silence.timestamp = int(now.timestamp())

    return _upsert(
        Silence,
        {"silence_id": silence_key(subscription, check)},
        new=lambda: Silence(subscription=subscription, check_name=check),
        fill=fill,
    )


@transaction.atomic
def silence_clear(*, silences) -> int:
    """Delete entries one by one so each removal is audited."""
    count = 0
    for silence in list(silences):
        silence.delete()
        count += 1
    return count


@transaction.atomic
def stash_create(*, path: str, content: dict, expire: int | None = None) -> Stash:
    expires_at = timezone.now() + timedelta(seconds=expire) if expire is not None else None
    stash, _ = Stash.objects.update_or_create(
        path=path, defaults={"content": content, "expire": expire, "expires_at": expires_at}
    )
    return stash


@transaction.atomic
def stash_delete(*, stash: Stash) -> None:
    stash.delete()


@transaction.atomic
def aggregate_delete(*, name: str) -> int:
    deleted, _ = AggregateMember.objects.filter(name=name).delete()
    return deleted


@transaction.atomic
def expired_rows_purge() -> None:
    """Redis would have expired these keys; the monitors sweep them up."""
    now = timezone.now()
    for silence in Silence.objects.filter(expires_at__lte=now):
        silence.delete()
    Stash.objects.filter(expires_at__lte=now).delete()
