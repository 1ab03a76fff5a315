"""
The worker side of handling (Sensu's `process_event` after the registry update). Two steps:

1. `notifications_dispatch`: take Notification rows the engine wrote (SKIP LOCKED, so several
   workers share them), select and filter each event's handlers (selection.py) and write one
   HandlerRun per handler, `filtered` with the reason or `pending`, in the same transaction:
   an event is turned into runs once, and never lost.
2. `handler_runs_execute`: claim due pending runs with a conditional UPDATE (pending ->
   running, this worker's id) and run each (mutator, then handler type) in a thread pool of
   MONITORING_HANDLER_CONCURRENCY, each bounded by its timeout: a slow or failing handler
   holds one thread, never the engine or another handler. An http run that may succeed
   later goes back to pending with `next_attempt_at` (exponential backoff).

A run left `running` by a worker that died is failed, not run again: the handler may already
have told someone, and telling them twice is worse than a run recorded as lost.

Each run that executed (succeeded, failed or timed out) is one audit event, source system,
target the SensuEvent, action `notify`; filtered runs and metric checks' runs are not (they
are kept as HandlerRun rows only): the trail records who was told what, not every metric
shipped to a graphing system.
"""

import json
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from audits.context import AuditTarget, audit_context
from audits.models import AuditSource
from audits.services import audit_event_build, audit_events_append
from integration_site.row_insert import rows_insert_each
from integration_site.schedule import worker_id_current, workers_dead
from monitoring.engine import handler_names_expand, handler_sets
from monitoring.handling.executors import (
    Execution,
    handler_execute,
    http_backoff_seconds,
    output_bounded,
)
from monitoring.handling.filters import FilterBook
from monitoring.handling.mutators import MutationFailed, MutatorBook, event_mutate
from monitoring.handling.selection import handler_filter_names, handler_filter_reason
from monitoring.models import Handler, HandlerRun, HandlerRunState, HandlerType, Notification

logger = logging.getLogger(__name__)

NOTIFICATION_BATCH_SIZE = 200
IDLE_POLL_SECONDS = 0.5
DEAD_RUNS_CHECK_SECONDS = 30
EXECUTED_STATES = (HandlerRunState.SUCCEEDED, HandlerRunState.FAILED, HandlerRunState.TIMED_OUT)


# --- 1. Notifications -> HandlerRuns -------------------------------------------------------


def _notifications_take(batch_size: int) -> list[Notification]:
    """Take (delete) the oldest unlocked notifications inside the caller's transaction."""
    if connection.vendor != "postgresql":
        queue = Notification.objects.select_for_update(skip_locked=True).order_by("id")
        rows = list(queue[:batch_size])
        Notification.objects.filter(pk__in=[row.pk for row in rows]).delete()
        return rows
    table = connection.ops.quote_name(Notification._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE id IN "
            f"(SELECT id FROM {table} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"RETURNING id, event",
            [batch_size],
        )
        taken = cursor.fetchall()
    return [
        Notification(id=pk, event=json.loads(event) if isinstance(event, str) else event)
        for pk, event in sorted(taken, key=lambda row: row[0])
    ]


def _run_for(event: dict[str, Any], handler: Handler, **values: Any) -> HandlerRun:
    check = event.get("check") or {}
    return HandlerRun(
        event_uuid=event["id"],
        client_name=str((event.get("client") or {}).get("name", ""))[:255],
        check_name=str(check.get("name", ""))[:255],
        action=str(event.get("action", ""))[:16],
        status=int(check.get("status", 0)),
        occurrences=int(event.get("occurrences") or 1),
        handler=handler.name,
        handler_type=handler.type,
        **values,
    )


def notifications_dispatch(*, batch_size: int = NOTIFICATION_BATCH_SIZE, now=None) -> int:
    """
    Turn one batch of notifications into HandlerRuns (filtered or pending); returns how many
    notifications were taken.
    """
    with transaction.atomic():
        notifications = _notifications_take(batch_size)
        if not notifications:
            return 0
        handler_map = handler_sets()
        # By notification: one event may be notified twice in a batch (two results).
        wanted = {
            n.pk: handler_names_expand(n.event.get("check") or {}, handler_map)
            for n in notifications
        }
        names = {name for found in wanted.values() for name in found}
        handlers = {h.name: h for h in Handler.objects.filter(name__in=names)} if names else {}
        filters = FilterBook.load({f for h in handlers.values() for f in handler_filter_names(h)})
        runs: list[HandlerRun] = []
        for notification in notifications:
            event = notification.event
            document = json.dumps(event, separators=(",", ":"))
            for name in wanted[notification.pk]:
                handler = handlers.get(name)
                if handler is None:
                    continue  # Deleted since the engine looked.
                reason = handler_filter_reason(handler, event, filters, now)
                if reason:
                    logger.info("event %s filtered for handler %s: %s", event["id"], name, reason)
                    runs.append(
                        _run_for(
                            event,
                            handler,
                            state=HandlerRunState.FILTERED,
                            reason=reason[:500],
                            finished_at=timezone.now(),
                        )
                    )
                else:
                    # The event waits in `data` until the run executes; then `data` holds
                    # what the handler was given, bounded.
                    runs.append(_run_for(event, handler, data=document))
        HandlerRun.objects.bulk_create(runs, batch_size=500)
    return len(notifications)


# --- 2. Running the runs ----------------------------------------------------------------------


def handler_runs_claim(*, worker_id: str, limit: int, now=None) -> list[HandlerRun]:
    """
    Claim up to `limit` due pending runs for `worker_id`, oldest first. The conditional
    UPDATE decides (a run another worker claimed meanwhile is no longer pending), and the
    claim time read back tells this claim's rows from any earlier one.
    """
    if limit <= 0:
        return []
    now = now or timezone.now()
    due = HandlerRun.objects.filter(state=HandlerRunState.PENDING).exclude(next_attempt_at__gt=now)
    candidates = list(due.order_by("id").values_list("id", flat=True)[:limit])
    if not candidates:
        return []
    claimed_at = timezone.now()
    HandlerRun.objects.filter(pk__in=candidates, state=HandlerRunState.PENDING).update(
        state=HandlerRunState.RUNNING, worker_id=worker_id, started_at=claimed_at
    )
    return list(
        HandlerRun.objects.filter(
            pk__in=candidates,
            state=HandlerRunState.RUNNING,
            worker_id=worker_id,
            started_at=claimed_at,
        ).order_by("id")
    )


@dataclass
class _Finish:
    state: str
    reason: str = ""
    output: str = ""
    exit_status: int | None = None
    data: str = ""
    retry_at: Any = None
    executed: bool = True


def handler_run_execute(run: HandlerRun, handler: Handler | None = None) -> str:
    """
    Run one claimed run to its end (or its next attempt); returns the state it ended in.
    `handler` is its definition when the caller loaded it with the claim's others.
    """
    if handler is None or handler.name != run.handler:
        handler = Handler.objects.filter(name=run.handler).first()
    event = json.loads(run.data or "{}")
    if handler is None:
        finish = _Finish(
            state=HandlerRunState.FAILED,
            reason=f"handler {run.handler} no longer exists",
            executed=False,
            data=run.data,
        )
        return _run_finish(run, event, finish)
    try:
        data = event_mutate(handler.mutator, event, MutatorBook.load({handler.mutator}))
    except MutationFailed as failure:
        logger.error(
            "handler %s: %s (exit status %s): %s",
            handler.name,
            failure.reason,
            failure.exit_status,
            failure.output,
        )
        finish = _Finish(
            state=HandlerRunState.FAILED,
            reason=f"{failure.reason}; the handler did not run",
            output=failure.output,
            exit_status=failure.exit_status,
            data=run.data,
            executed=False,
        )
        return _run_finish(run, event, finish)
    started = time.monotonic()
    execution = handler_execute(handler, data)
    run.duration_ms = int((time.monotonic() - started) * 1000)
    return _run_finish(run, event, _finish_of(handler, run, execution, data))


def _finish_of(handler: Handler, run: HandlerRun, execution: Execution, data: bytes) -> _Finish:
    shown = output_bounded(data.decode("utf-8", errors="replace"))
    if execution.ok:
        return _Finish(
            state=HandlerRunState.SUCCEEDED,
            reason=execution.reason,
            output=execution.output,
            exit_status=execution.exit_status,
            data=shown,
        )
    logger.error(
        "handler %s failed for event %s: %s (exit status %s) output: %s",
        handler.name,
        run.event_uuid,
        execution.reason,
        execution.exit_status,
        execution.output,
    )
    attempts = run.attempts + 1
    if (
        handler.type == HandlerType.HTTP
        and execution.retryable
        and attempts <= handler.http_retries
    ):
        delay = http_backoff_seconds(attempts)
        return _Finish(
            state=HandlerRunState.PENDING,
            reason=f"{execution.reason}; attempt {attempts + 1} in {delay} s",
            output=execution.output,
            exit_status=execution.exit_status,
            data=run.data,  # The event stays for the next attempt.
            retry_at=timezone.now() + timedelta(seconds=delay),
        )
    return _Finish(
        state=HandlerRunState.TIMED_OUT if execution.timed_out else HandlerRunState.FAILED,
        reason=execution.reason,
        output=execution.output,
        exit_status=execution.exit_status,
        data=shown,
    )


def _run_finish(run: HandlerRun, event: dict[str, Any], finish: _Finish) -> str:
    """
    Record the outcome, only if the run is still this claim's (a run failed as abandoned in
    the meantime keeps that record), and audit an executed run in the same transaction.
    """
    now = timezone.now()
    final = finish.state != HandlerRunState.PENDING
    with transaction.atomic():
        updated = HandlerRun.objects.filter(
            pk=run.pk, state=HandlerRunState.RUNNING, worker_id=run.worker_id
        ).update(
            state=finish.state,
            reason=finish.reason[:500],
            output=output_bounded(finish.output),
            exit_status=finish.exit_status,
            data=finish.data,
            attempts=run.attempts + 1,
            next_attempt_at=finish.retry_at,
            finished_at=now if final else None,
            duration_ms=run.duration_ms,
        )
        if updated and final and finish.executed and _audit_worthy(event):
            _run_audit(run, event, finish)
    return finish.state


def _audit_worthy(event: dict[str, Any]) -> bool:
    return (event.get("check") or {}).get("type") != "metric"


def _run_audit(run: HandlerRun, event: dict[str, Any], finish: _Finish) -> None:
    label = f"{run.client_name}/{run.check_name}"
    outcome = {
        HandlerRunState.SUCCEEDED: "notified",
        HandlerRunState.FAILED: "failed to notify",
        HandlerRunState.TIMED_OUT: "timed out notifying",
    }[finish.state]
    with audit_context():
        audit = audit_event_build(
            action="notify",
            source=AuditSource.SYSTEM,
            target=AuditTarget(type="SensuEvent", id=str(run.event_uuid), name=label[:255]),
            associated=AuditTarget(type="SensuHandler", id=run.handler, name=run.handler),
            description=(
                f"{label} {run.action}: handler {run.handler} ({run.handler_type}) {outcome}"
                + (f": {finish.reason}" if finish.reason and finish.state != "succeeded" else "")
            )[:1000],
            is_failure=finish.state != HandlerRunState.SUCCEEDED,
            audited_changes={
                "handler": run.handler,
                "handler_type": run.handler_type,
                "state": finish.state,
                "action": run.action,
                "status": run.status,
                "occurrences": run.occurrences,
                "exit_status": finish.exit_status,
                "handler_run": run.pk,
            },
        )
    # Stored pending, without the chain head lock (the worker links it within about a
    # second, as single-event ingest does): runs finishing side by side do not queue on it.
    # One prepared INSERT, as single-event ingest stores its event (integration_site.row_insert).
    audit_events_append([audit], link=False, persist=rows_insert_each)


# --- Runs abandoned by a dead worker ----------------------------------------------------------


def handler_runs_fail_abandoned(*, now=None) -> int:
    """
    Fail the runs a dead worker left `running` (integration_site.schedule.workers_dead, which
    judges task rows too). They are not
    run again: the handler may already have told someone.

    Only runs started longer ago than a heartbeat's age plus the default handler timeout
    are judged: a process that dispatches synchronously (the demo, a bench) has no heartbeat,
    and its runs must be left to finish.
    """
    now = now or timezone.now()
    current = worker_id_current()
    grace = settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS + settings.MONITORING_HANDLER_TIMEOUT_SECONDS
    running = list(
        HandlerRun.objects.filter(
            state=HandlerRunState.RUNNING, started_at__lt=now - timedelta(seconds=grace)
        )
        .exclude(worker_id=current)
        .values_list("id", "worker_id", "started_at")[:1000]
    )
    if not running:
        return 0
    dead = workers_dead({worker_id for _, worker_id, _ in running}, now=now)
    failed = 0
    for pk, worker_id, started_at in running:
        reason = dead.get(worker_id)
        if reason is None:
            continue
        failed += HandlerRun.objects.filter(
            pk=pk, state=HandlerRunState.RUNNING, worker_id=worker_id, started_at=started_at
        ).update(
            state=HandlerRunState.FAILED,
            reason=(f"Abandoned mid-run: {reason}; not run again, so nobody is told twice.")[:500],
            finished_at=now,
        )
        logger.warning("handler run %s abandoned: %s", pk, reason)
    return failed


# --- Driving it ---------------------------------------------------------------------------


@dataclass
class DispatchSummary:
    notifications: int = 0
    runs: dict[str, int] = field(default_factory=dict)


def _handlers_of(runs: list[HandlerRun]) -> dict[str, Handler]:
    """The definitions of a claim's runs, in one query."""
    names = {run.handler for run in runs}
    return {h.name: h for h in Handler.objects.filter(name__in=names)} if names else {}


def _execute_in_thread(run: HandlerRun, handler: Handler | None) -> str:
    close_old_connections()
    try:
        return handler_run_execute(run, handler)
    except Exception:
        logger.exception("handler run %s crashed", run.pk)
        HandlerRun.objects.filter(pk=run.pk, state=HandlerRunState.RUNNING).update(
            state=HandlerRunState.FAILED,
            reason="the dispatcher crashed running it (see the worker log)",
            finished_at=timezone.now(),
        )
        return HandlerRunState.FAILED
    finally:
        close_old_connections()


def handling_dispatch_once(*, concurrency: int | None = None, now=None) -> DispatchSummary:
    """
    Synchronously: turn every queued notification into runs, then execute every due run
    (concurrently, as the worker would) until none is due at `now`; runs waiting for a later
    attempt stay pending. For tests, the demo and the bench.
    """
    summary = DispatchSummary()
    while taken := notifications_dispatch():
        summary.notifications += taken
    concurrency = concurrency or settings.MONITORING_HANDLER_CONCURRENCY
    worker_id = worker_id_current()
    if connection.vendor != "postgresql" or concurrency == 1 or connection.in_atomic_block:
        # Inline: SQLite serialises writers anyway, and threads (each with its own
        # connection) would not see rows the caller's open transaction has not committed.
        while runs := handler_runs_claim(worker_id=worker_id, limit=100, now=now):
            handlers = _handlers_of(runs)
            for run in runs:
                state = handler_run_execute(run, handlers.get(run.handler))
                summary.runs[state] = summary.runs.get(state, 0) + 1
        return summary
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="handler") as pool:
        while runs := handler_runs_claim(worker_id=worker_id, limit=concurrency * 4, now=now):
            handlers = _handlers_of(runs)
            for state in pool.map(
                _execute_in_thread, runs, [handlers.get(run.handler) for run in runs]
            ):
                summary.runs[state] = summary.runs.get(state, 0) + 1
    return summary


def handling_loop(stopping: threading.Event) -> None:
    """
    The worker thread (registry["worker_threads"]): dispatch notifications and keep up to
    MONITORING_HANDLER_CONCURRENCY runs going, polling when idle; on stop, the runs in
    flight finish (each bounded by its timeout).
    """
    concurrency = max(settings.MONITORING_HANDLER_CONCURRENCY, 1)
    worker_id = worker_id_current()
    in_flight: set[Future] = set()
    next_abandoned_check = 0.0
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="handler") as pool:
        while not stopping.is_set():
            busy = False
            try:
                busy = notifications_dispatch() > 0
                if time.monotonic() >= next_abandoned_check:
                    handler_runs_fail_abandoned()
                    next_abandoned_check = time.monotonic() + DEAD_RUNS_CHECK_SECONDS
                runs = handler_runs_claim(worker_id=worker_id, limit=concurrency - len(in_flight))
                handlers = _handlers_of(runs)
                for run in runs:
                    in_flight.add(pool.submit(_execute_in_thread, run, handlers.get(run.handler)))
                    busy = True
            finally:
                close_old_connections()
            if in_flight:
                done, in_flight = wait(
                    in_flight, timeout=IDLE_POLL_SECONDS, return_when=FIRST_COMPLETED
                )
                busy = busy or bool(done)
            if not busy:
                stopping.wait(IDLE_POLL_SECONDS)
