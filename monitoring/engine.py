"""
The event engine: Sensu 1.x's `process_check_result` (lib/sensu/server/process.rb), ported
step by step. Every result, whatever its origin (POST /results, a keepalive or TTL monitor, a
resolve asked through the API or the admin), goes through `result_process`, in one transaction:

    retrieve_client -> merge the definition -> aggregates -> store_check_result (history 21,
    last_ok) -> create_event (occurrences, watermark, flapping, last_state_change) ->
    event_silenced? -> update_event_registry (store / delete / metric) -> audit trail

Handlers do not run here: an event to handle (Sensu's `process_event`) is written as a
Notification row in the same transaction, and the worker's dispatcher (monitoring/handling)
selects, filters, mutates and runs the handlers after the commit. A batch writes none unless
the handlers its checks name exist, so results with no handler configured cost one query per
batch more than before. Events created, changing state, flapping or resolved are written to the audit trail
with source=system, so an event's story reaches back further than the 21-entry history.
"""

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from audits.context import AuditTarget
from audits.models import AuditSource, Crud
from audits.services import audit_event_build, audit_events_append
from integration_site.row_insert import rows_insert_each
from monitoring.bulk import PairKey, filter_in, rows_for_pairs, rows_insert, rows_update
from monitoring.models import (
    HISTORY_LENGTH,
    AcceptedResult,
    AggregateMember,
    CheckDefinition,
    CheckResult,
    Client,
    ClientType,
    Event,
    Handler,
    HandlerType,
    Notification,
    Silence,
    epoch_now,
    severity_of,
)

logger = logging.getLogger(__name__)

RESOLVE_OUTPUT = "Resolving on request of the API"
# History entries keep their output, bounded so a chatty check cannot bloat the row.
HISTORY_OUTPUT_LIMIT = 1024
METRIC_OUTPUT_LIMIT = 255


class UnknownEvent(LookupError):
    pass


@dataclass
class Outcome:
    """What processing one result did: Sensu's event (or None) and the registry action."""

    event: dict[str, Any] | None
    # "stored", "deleted", "handled" (a metric) or "" (an OK result with no event).
    registry: str


def total_state_change(statuses: list[int]) -> int:
    """Sensu's `check_history`: weighted state changes over the last 21 results, in percent."""
    if len(statuses) < HISTORY_LENGTH:
        return 0
    state_changes = 0.0
    change_weight = 0.8
    previous = statuses[0]
    for status in statuses:
        if status != previous:
            state_changes += change_weight
        change_weight += 0.02
        previous = status
    return int(state_changes / 20 * 100)


def check_flapping(*, stored_action: str | None, check: dict[str, Any]) -> bool:
    """Sensu's `check_flapping?`: hysteresis between low and high thresholds."""
    low = check.get("low_flap_threshold")
    high = check.get("high_flap_threshold")
    if "low_flap_threshold" not in check or "high_flap_threshold" not in check:
        return False
    if not _is_int(low) or not _is_int(high):
        return False  # Sensu logs invalid thresholds and treats the check as not flapping.
    tsc = check.get("total_state_change", 0)
    if stored_action == Event.Action.FLAPPING:
        return tsc > low
    return tsc >= high


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _client_create(*, name: str, proxy: bool, now: int) -> Client:
    """Sensu's `retrieve_client` for an unknown name: it becomes a proxy client."""
    try:
        with transaction.atomic():
            return Client.objects.create(
                name=name,
                address="unknown",
                subscriptions=[f"client:{name}"],
                keepalives=False,
                type=ClientType.PROXY if proxy else ClientType.STANDARD,
                timestamp=now,
            )
    except IntegrityError:
        return Client.objects.get(name=name)  # Created by a concurrent result.


def _merge_definition(
    check: dict[str, Any], *, client_name: str, definitions: dict[str, CheckDefinition]
) -> dict[str, Any]:
    name = check["name"]
    merged = dict(check)
    if not check.get("standalone"):
        definition = definitions.get(name)
        if definition is not None and not definition.standalone:
            merged = {**definition.as_sensu(), **check}
    merged["name"] = name
    merged.setdefault("type", "standard")
    if check.get("source"):
        merged["origin"] = client_name
    return merged


def _aggregates_add(client: Client, check: dict[str, Any]) -> None:
    names: list[str] = []
    if isinstance(check.get("aggregate"), str):
        names.append(check["aggregate"])
    elif check.get("aggregate") is True:
        names.append(check["name"])
    if isinstance(check.get("aggregates"), list):
        names.extend(a for a in check["aggregates"] if isinstance(a, str))
    for name in names:
        AggregateMember.objects.get_or_create(name=name, client=client, check_name=check["name"])


def _result_stored_check(check: dict[str, Any]) -> dict[str, Any]:
    """The check as `store_check_result` keeps it: metric output cut to its first line."""
    stored = dict(check)
    if check.get("type") == "metric" and check.get("truncate_output", True) is not False:
        lines = str(check.get("output", "")).splitlines()
        stored["output"] = (lines[0] if lines else "")[:METRIC_OUTPUT_LIMIT]
    return stored


def _result_apply(result: CheckResult, check: dict[str, Any], stored: dict[str, Any]) -> None:
    status = int(check.get("status", 0))
    executed = check.get("executed")
    output = str(check.get("output", ""))
    result.check_data = stored
    result.status = status
    result.output = stored.get("output", "")
    result.executed = executed
    result.ttl = check["ttl"] if _is_int(check.get("ttl")) and check["ttl"] > 0 else None
    history = [*result.history, [status, executed, output[:HISTORY_OUTPUT_LIMIT]]]
    result.history = history[-HISTORY_LENGTH:]
    if status == 0:
        result.last_ok = executed


def silences_matching(
    *, client: Client, check_name: str, silences: list[Silence], now=None
) -> list[Silence]:
    """
    Sensu's `event_silenced?` keys: `S:*` and `S:<check>` for each client subscription S
    (client:<name> always among them), plus `*:<check>`; entries not yet begun are ignored.
    """
    now = now or timezone.now()
    keys = silence_keys(client, check_name)
    return [
        s
        for s in silences
        if s.silence_id in keys and _silence_live(s, now) and (s.begin is None or s.begin <= now)
    ]


def event_is_silenced(event: Event, silences: list[Silence]) -> bool:
    """Whether the live silences silence `event` now (the API and the admin show this)."""
    return bool(
        silences_matching(client=event.client, check_name=event.check_name, silences=silences)
    )


def _silence_live(silence: Silence, now) -> bool:
    # Sensu's entries expire in Redis (EXPIRE); ours carry the time and are purged later.
    return silence.expires_at is None or silence.expires_at > now


def silence_keys(client: Client, check_name: str) -> set[str]:
    """Sensu's `event_silenced?` keys: `S:*` and `S:<check>` per subscription, `*:<check>`."""
    subscriptions = set(client.subscriptions or []) | {f"client:{client.name}"}
    keys = {"*:" + check_name}
    for subscription in subscriptions:
        keys.update({f"{subscription}:*", f"{subscription}:{check_name}"})
    return keys


def _silencing_apply(
    event: dict[str, Any], client: Client, check_name: str, status: int, batch: "_Batch"
) -> None:
    event["silenced"] = False
    event["silenced_by"] = []
    if status == 0 and event["action"] == Event.Action.CREATE:
        return
    # As Sensu's `event_silenced?`: on a resolve an expire_on_resolve entry is deleted, even
    # one not begun yet, and does not silence the resolve; otherwise an entry silences once
    # it has begun.
    now = timezone.now()
    resolving = event["action"] == Event.Action.RESOLVE
    silenced_by = []
    for key in sorted(silence_keys(client, check_name)):
        silence = batch.silences.get(key)
        if silence is None or not _silence_live(silence, now):
            continue
        if resolving and silence.expire_on_resolve:
            silence.delete()  # Audited like any silence removal.
            del batch.silences[key]
        elif silence.begin is None or silence.begin <= now:
            silenced_by.append(silence.silence_id)
    event["silenced"] = bool(silenced_by)
    event["silenced_by"] = silenced_by


def _audit(
    batch: "_Batch",
    *,
    action: str,
    crud: str,
    client: Client,
    check: dict[str, Any],
    event: dict[str, Any],
) -> None:
    status = int(check.get("status", 0))
    # Built now (actor and request come from the current context), appended at the end of
    # the transaction: the audit chain's head lock is global, so it is taken last and once.
    batch.audits.append(
        audit_event_build(
            action=action,
            crud=crud,
            source=AuditSource.SYSTEM,
            # Client and check names are 255 characters each; the label must fit the audit's
            # 255; the event id finds the event, and `associated` names the client whole.
            target=AuditTarget(
                type="SensuEvent", id=event["id"], name=f"{client.name}/{check['name']}"[:255]
            ),
            associated=AuditTarget(type="Client", id=str(client.pk), name=client.name),
            description=(
                f"{client.name}/{check['name']} {action}: {severity_of(status).upper()} "
                f"(occurrences {event['occurrences']}) {str(check.get('output', ''))[:200]}"
            ).strip(),
            audited_changes={
                "status": status,
                "action": event["action"],
                "occurrences": event["occurrences"],
                "occurrences_watermark": event["occurrences_watermark"],
                "output": str(check.get("output", ""))[:1024],
                "silenced": event.get("silenced", False),
            },
        )
    )


@dataclass
class ResultInput:
    """One published result: the client it was published for and its check."""

    client_name: str
    check: dict[str, Any]
    now: int | None = None


RESULT_FIELDS = ["check_data", "status", "output", "executed", "ttl", "history", "last_ok"]
EVENT_FIELDS = [
    "check_data",
    "status",
    "output",
    "action",
    "occurrences",
    "occurrences_watermark",
    "last_ok",
    "last_state_change",
    "timestamp",
    "silenced",
    "silenced_by",
]


class _Batch:
    """
    The rows one engine transaction works on, read up front with one query per table, and
    the writes it makes, flushed at the end with one statement per table and kind. Results
    are applied one after another in memory, so a pair published twice in a batch sees its
    first result exactly as it would have in the database.
    """

    def __init__(self) -> None:
        self.results: dict[PairKey, CheckResult] = {}
        self.events: dict[PairKey, Event | None] = {}
        self.events_created: dict[PairKey, Event] = {}
        self.events_changed: dict[PairKey, Event] = {}
        self.events_deleted: list[int] = []
        self.silences: dict[str, Silence] = {}
        self.audits: list = []
        self.notifications: list[Notification] = []
        # Handler name -> its members when a set, None otherwise; loaded when first needed.
        self.handlers: dict[str, list[str] | None] | None = None

    def notify(self, event: dict[str, Any]) -> None:
        """Queue `event` for the handlers its check names, if any of them exists."""
        if self.handlers is None:
            self.handlers = handler_sets()
        if not self.handlers or not handler_names_expand(event["check"], self.handlers):
            return
        self.notifications.append(Notification(event=event_document(event)))

    def load(self, work: list[tuple[Client, dict[str, Any], int]]) -> None:
        pairs = sorted({(client.pk, check["name"]) for client, check, _ in work})
        # The result row lock serialises every engine run for a pair (results, resolves,
        # monitors all come through here), so the event rows need no lock of their own.
        found = {
            (r.client_id, r.check_name): r for r in rows_for_pairs(CheckResult, pairs, lock=True)
        }
        missing = [pair for pair in pairs if pair not in found]
        if missing:
            # Insert-or-skip, then lock: a concurrent batch may create the same pair first.
            rows_insert(
                [CheckResult(client_id=c, check_name=k) for c, k in missing],
                ignore_conflicts=True,
            )
            found.update(
                {
                    (r.client_id, r.check_name): r
                    for r in rows_for_pairs(CheckResult, missing, lock=True)
                }
            )
        self.results = found
        self.events = dict.fromkeys(pairs)
        self.events.update(
            {(e.client_id, e.check_name): e for e in rows_for_pairs(Event, pairs, lock=False)}
        )
        # Silences matter only where an event exists or may be created: skip the query for
        # a batch of plain OK results.
        keys: set[str] = set()
        for client, check, _ in work:
            pair = (client.pk, check["name"])
            if (
                int(check["status"]) != 0
                or self.events[pair] is not None
                or "low_flap_threshold" in check
            ):
                keys |= silence_keys(client, check["name"])
        if keys:
            silences = filter_in(Silence.objects.all(), "silence_id", keys)
            self.silences = {s.silence_id: s for s in silences}

    def event_store(self, pair: PairKey, stored: Event | None, event: dict, values: dict) -> None:
        if stored is None:
            stored = Event(uuid=event["id"], client=event["client"], check_name=pair[1])
            self.events_created[pair] = stored
        elif stored.pk is not None:
            self.events_changed[pair] = stored
        for field, value in values.items():
            setattr(stored, field, value)
        self.events[pair] = stored

    def event_delete(self, pair: PairKey, stored: Event) -> None:
        if stored.pk is None:
            self.events_created.pop(pair, None)  # Created and resolved within this batch.
        else:
            self.events_changed.pop(pair, None)
            self.events_deleted.append(stored.pk)
        self.events[pair] = None

    def flush(self) -> None:
        updated_at = timezone.now()
        for result in self.results.values():
            result.updated_at = updated_at
        rows_update(list(self.results.values()), [*RESULT_FIELDS, "updated_at"])
        # Deletes first: a pair resolved and created again in one batch reuses the unique key.
        if self.events_deleted:
            Event.objects.filter(pk__in=self.events_deleted).delete()
        if self.events_changed:
            rows_update(list(self.events_changed.values()), EVENT_FIELDS)
        if self.events_created:
            rows_insert(list(self.events_created.values()))
        if self.notifications:
            rows_insert(self.notifications)
        if self.audits:
            audit_events_append(self.audits)


def result_process(*, client_name: str, check: dict[str, Any], now: int | None = None) -> Outcome:
    """Process one check result published for `client_name` (Sensu's `process_check_result`)."""
    return results_process([ResultInput(client_name=client_name, check=check, now=now)])[0]


def results_process(items: list[ResultInput]) -> list[Outcome]:
    """
    Process results in order, in ONE transaction, each exactly as `process_check_result`
    would one after the other; all of them are stored or none. The accepted-results drain
    feeds batches here; a batch that fails is retried result by result.
    """
    prepared = []
    for item in items:
        now = item.now if item.now is not None else epoch_now()
        check = dict(item.check)
        if check.get("status") is None:
            check["status"] = 0
        if check.get("executed") is None:
            check["executed"] = now
        check.setdefault("issued", now)
        prepared.append((item.client_name, check, now))
    if not prepared:
        return []
    with transaction.atomic():
        names = {check.get("source") or client_name for client_name, check, _ in prepared}
        clients = {c.name: c for c in filter_in(Client.objects.all(), "name", names)}
        wanted = {check["name"] for _, check, _ in prepared if not check.get("standalone")}
        definitions = (
            {d.name: d for d in CheckDefinition.objects.filter(name__in=wanted)} if wanted else {}
        )
        work: list[tuple[Client, dict[str, Any], int]] = []
        for client_name, check, now in prepared:
            source = check.get("source")
            name = source or client_name
            if name not in clients:
                clients[name] = _client_create(name=name, proxy=bool(source), now=now)
            client = clients[name]
            merged = _merge_definition(check, client_name=client_name, definitions=definitions)
            if client.type == ClientType.PROXY and check["name"] in definitions:
                # process.rb process_check_result: a proxy client's result keeps the
                # definition's command, not the one its client's tokens were substituted into.
                merged["command"] = definitions[check["name"]].command
            _aggregates_add(client, merged)
            work.append((client, merged, now))
        batch = _Batch()
        batch.load(work)
        outcomes = []
        for client, check, now in work:
            result = batch.results[(client.pk, check["name"])]
            _result_apply(result, check, _result_stored_check(check))
            outcomes.append(
                _event_update(batch, client=client, check=check, result=result, now=now)
            )
        batch.flush()
    return outcomes


def result_output_bounded(check: dict[str, Any]) -> dict[str, Any]:
    """
    A copy of `check` with its output cut to MONITORING_OUTPUT_MAX_CHARS, before any queue
    (POST /results, the transport's results): a result may not cost the site more than it
    costs the sender, and the output is kept in the result, the event and the audit trail.
    """
    check = dict(check)
    limit = settings.MONITORING_OUTPUT_MAX_CHARS
    if isinstance(check.get("output"), str) and len(check["output"]) > limit:
        check["output"] = check["output"][:limit]
    return check


def result_accept(*, client_name: str, check: dict[str, Any], now: int) -> None:
    """
    POST /results: queue the result for the engine (Sensu publishes it on the transport).
    Sensu's API defaults `status` and `executed` at this point, so they are set here too;
    `output` is cut to MONITORING_OUTPUT_MAX_CHARS. The caller has validated everything the
    engine stores (monitoring.sensu.validation), so a queued result is never dropped.
    """
    check = result_output_bounded(check)
    if check.get("status") is None:
        check["status"] = 0
    if check.get("executed") is None:
        check["executed"] = now
    # The ingest hot path: one INSERT in autocommit (integration_site.row_insert).
    rows_insert_each([AcceptedResult(client_name=client_name, check_data=check)])


def accepted_results_drain(*, batch_size: int | None = None, seconds: float | None = None) -> int:
    """
    Feed queued results to the engine, oldest first, one transaction per batch, until a
    batch comes back short (the queue is drained; what arrives meanwhile waits for the next
    run, a second later, so results are processed in large batches rather than a trickle of
    small ones, each paying a transaction's fixed cost) or `seconds` have passed; returns
    how many were taken off the queue. SKIP LOCKED lets several workers drain side by side
    (as several Sensu servers consumed one queue): results for one pair taken by two workers
    at once may then apply in either order, as in Sensu.
    """
    batch_size = batch_size or settings.MONITORING_RESULTS_BATCH_SIZE
    deadline = None if seconds is None else time.monotonic() + seconds
    taken = 0
    while deadline is None or time.monotonic() < deadline:
        with transaction.atomic():
            rows = _accepted_take(batch_size)
            if rows:
                _accepted_process(rows)
        taken += len(rows)
        if len(rows) < batch_size:
            break
    return taken


def _accepted_take(batch_size: int) -> list[AcceptedResult]:
    """
    Take (delete) the oldest unlocked queued results, in queue order, inside the caller's
    transaction: if processing fails with a database error the rows come back.
    """
    if connection.vendor != "postgresql":
        queue = AcceptedResult.objects.select_for_update(skip_locked=True).order_by("id")
        rows = list(queue[:batch_size])
        AcceptedResult.objects.filter(pk__in=[row.pk for row in rows]).delete()
        return rows
    quote = connection.ops.quote_name
    table = quote(AcceptedResult._meta.db_table)
    # One statement instead of SELECT ... FOR UPDATE then DELETE ... WHERE id IN (...).
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE id IN "
            f"(SELECT id FROM {table} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"RETURNING id, {quote('client_name')}, {quote('check_data')}",
            [batch_size],
        )
        taken = cursor.fetchall()
    return [
        AcceptedResult(
            id=pk,
            client_name=client_name,
            check_data=json.loads(check) if isinstance(check, str) else check,
        )
        for pk, client_name, check in sorted(taken, key=lambda row: row[0])
    ]


def _accepted_process(rows: list[AcceptedResult]) -> None:
    items = [ResultInput(client_name=row.client_name, check=row.check_data) for row in rows]
    try:
        with transaction.atomic():
            results_process(items)
        return
    except (OperationalError, InterfaceError):
        raise  # Deadlock, lost connection: leave the batch queued for the next drain.
    except Exception:
        logger.exception("A batch of %d results failed; processing them one by one.", len(rows))
    for row, item in zip(rows, items, strict=True):
        try:
            with transaction.atomic():
                results_process([item])
        except (OperationalError, InterfaceError):
            raise
        except Exception:
            # Sensu logs a result it cannot process and acknowledges it: one bad message
            # must not block the queue behind it.
            logger.exception("Dropping queued result %s (%s).", row.pk, row)


def _event_update(
    batch: _Batch, *, client: Client, check: dict[str, Any], result: CheckResult, now: int
) -> Outcome:
    """Sensu's `create_event` and `update_event_registry`."""
    pair = (client.pk, check["name"])
    statuses = [entry[0] for entry in result.history]
    history = [str(s) for s in statuses]
    check = {**check, "history": history, "total_state_change": total_state_change(statuses)}
    status = int(check["status"])
    stored = batch.events[pair]
    flapping = check_flapping(stored_action=stored.action if stored else None, check=check)

    event: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "client": client,
        "check": check,
        "occurrences": 1,
        "occurrences_watermark": 1,
        "last_ok": result.last_ok,
        "last_state_change": None,
        "action": Event.Action.FLAPPING if flapping else Event.Action.CREATE,
        "timestamp": now,
    }
    if stored is not None:
        event["id"] = str(stored.uuid)
        event["last_state_change"] = stored.last_state_change
        event["occurrences"] = stored.occurrences
        event["occurrences_watermark"] = stored.occurrences_watermark or stored.occurrences
    state_changed = False
    if status != 0 or flapping:
        if len(history) >= 2 and history[-1] == history[-2]:
            event["occurrences"] += 1
            event["occurrences_watermark"] = max(
                event["occurrences_watermark"], event["occurrences"]
            )
        else:
            # A new state (WARNING -> CRITICAL too) restarts the count; the watermark stays.
            event["occurrences"] = 1
            event["last_state_change"] = now
            state_changed = True
    elif stored is not None:
        event["last_state_change"] = now
        event["action"] = Event.Action.RESOLVE
    _silencing_apply(event, client, check["name"], status, batch)

    force = bool(check.get("force_resolve"))
    action = event["action"]
    audit = {"client": client, "check": check, "event": event}
    if status != 0 or (action == Event.Action.FLAPPING and not force):
        previous_action = stored.action if stored is not None else None
        batch.event_store(pair, stored, event, _event_values(event, check=check, status=status))
        if stored is None:
            audit_action = "flapping" if action == Event.Action.FLAPPING else "create"
            _audit(batch, action=audit_action, crud=Crud.CREATE, **audit)
        elif action != previous_action:
            audit_action = "flapping" if action == Event.Action.FLAPPING else "create"
            _audit(batch, action=audit_action, crud=Crud.UPDATE, **audit)
        elif state_changed:
            _audit(batch, action=action, crud=Crud.UPDATE, **audit)
        registry = "stored"
    elif (
        action == Event.Action.RESOLVE and (check.get("auto_resolve", True) is not False or force)
    ) or (action == Event.Action.FLAPPING and force):
        if stored is not None:
            batch.event_delete(pair, stored)
            _audit(batch, action="resolve", crud=Crud.DELETE, **audit)
        registry = "deleted"
    elif check.get("type") == "metric":
        registry = "handled"
    else:
        registry = ""
    if registry:
        batch.notify(event)
    return Outcome(event=event if registry else None, registry=registry)


def handler_sets() -> dict[str, list[str] | None]:
    """Every defined handler's name -> its members when a set, None otherwise (one query)."""
    return {
        name: (members if isinstance(members, list) else []) if kind == HandlerType.SET else None
        for name, kind, members in Handler.objects.values_list("name", "type", "handlers")
    }


def handler_names(check: dict[str, Any]) -> list[str]:
    """
    Sensu's `Array((check[:handlers] || check[:handler]) || "default")` (process.rb
    `process_event`): in Ruby an empty list is true, so `handlers: []` means no handler.
    """
    names = check.get("handlers")
    if names is None or names is False:
        names = check.get("handler")
    if names is None or names is False:
        names = "default"
    names = names if isinstance(names, list) else [names]
    return [n for n in names if isinstance(n, str)]


def handler_names_expand(check: dict[str, Any], handlers: dict[str, list[str] | None]) -> list[str]:
    """
    The names of the defined handlers `check` reaches, as Sensu's `derive_handlers` and
    `expand_handler_sets` find them (process.rb): a set is expanded while its depth is below
    2, so a set in a set in a set yields nothing; each name once, in order. `handlers` maps
    every defined name to its members when a set, None otherwise. Unknown names are left out
    (Sensu logs "unknown handler").
    """
    found: list[str] = []

    def derive(names: list[str], depth: int) -> None:
        for name in names:
            if name not in handlers:
                continue
            members = handlers[name]
            if members is None:
                if name not in found:
                    found.append(name)
            elif depth < 2:
                derive([m for m in members if isinstance(m, str)], depth + 1)

    derive(handler_names(check), 0)
    return found


def event_document(event: dict[str, Any]) -> dict[str, Any]:
    """
    The event as Sensu hands it to handlers and mutators (docs `reference/events.md`). The
    client is redacted as /clients shows it: handler runs keep what they were given, and an
    operator reads them in the admin.
    """
    client: Client = event["client"]
    return {
        "id": event["id"],
        "client": client.as_sensu(redacted=True),
        "check": event["check"],
        "occurrences": event["occurrences"],
        "occurrences_watermark": event["occurrences_watermark"],
        "action": str(event["action"]),
        "timestamp": event["timestamp"],
        "last_ok": event["last_ok"],
        "last_state_change": event["last_state_change"],
        "silenced": event.get("silenced", False),
        "silenced_by": event.get("silenced_by", []),
    }


def _event_values(event: dict[str, Any], *, check: dict, status: int) -> dict[str, Any]:
    return {
        "check_data": check,
        "status": status,
        "output": str(check.get("output", "")),
        "action": event["action"],
        "occurrences": event["occurrences"],
        "occurrences_watermark": event["occurrences_watermark"],
        "last_ok": event["last_ok"],
        "last_state_change": event["last_state_change"],
        "timestamp": event["timestamp"],
        "silenced": event["silenced"],
        "silenced_by": event["silenced_by"],
    }


def event_resolve(*, client_name: str, check_name: str) -> int:
    """
    Sensu's `resolve_event`: publish an OK result carrying force_resolve through the engine,
    which deletes the event even with auto_resolve false or while flapping. Returns `issued`.
    """
    event = (
        Event.objects.select_related("client")
        .filter(client__name=client_name, check_name=check_name)
        .first()
    )
    if event is None:
        raise UnknownEvent(f"No event for client {client_name!r} and check {check_name!r}.")
    issued = epoch_now()
    check = {
        k: v for k, v in event.check_data.items() if k not in ("history", "total_state_change")
    }
    check.update(
        output=RESOLVE_OUTPUT, status=0, force_resolve=True, issued=issued, executed=issued
    )
    # The event's check may carry `source`; the result is published for the event's client.
    check.pop("source", None)
    check.pop("origin", None)
    result_process(client_name=client_name, check=check, now=issued)
    return issued
