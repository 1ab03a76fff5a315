"""
Sensu's `client_monitor` (keepalives) and `check_result_monitor` (TTL), run every 30 s by the
worker (monitoring/tasks.py). Both publish ordinary results through the event engine, so
keepalive and TTL events get history, occurrences and flapping like any other event.

The worker's ScheduledJob claim keeps two workers from enqueueing the same tick, but a sweep
over many clients can outlast 30 s, and the next tick then runs on another worker meanwhile.
So each sweep holds its job's run lease (integration_site.schedule.exclusive_run_lease): a
tick that finds the previous sweep still going is skipped, and a worker killed mid-sweep
leaves a lease that lapses after MONITOR_LEASE_SECONDS. On top of that each monitor skips a
client/check it already handled within MIN_GAP_SECONDS with the same outcome, so a run soon
after a finished one (a second claim after clock skew) is a no-op.
"""

import logging

from django.conf import settings

from integration_site.schedule import RunLease, exclusive_run_lease
from monitoring.engine import result_process
from monitoring.models import CheckResult, Client, Event, epoch_now
from monitoring.services import expired_rows_purge

logger = logging.getLogger(__name__)

MONITOR_INTERVAL_SECONDS = 30
MIN_GAP_SECONDS = 20
TTL_OUTPUT_PREFIX = "Last check execution was"
# The leases sit on the periodic tasks' ScheduledJob rows (monitoring/tasks.py registers the
# tasks under these names; a test keeps the two in step).
KEEPALIVE_MONITOR_JOB = "monitoring.tasks.keepalive_monitor"
TTL_MONITOR_JOB = "monitoring.tasks.ttl_monitor"
# Three ticks: a live sweep renews every third of it (each 30 s), so it lapses only for a
# worker killed mid-sweep, and that stalls the monitor for at most 90 s plus one tick, short
# against the keepalive thresholds (120 s / 180 s) it exists to enforce.
MONITOR_LEASE_SECONDS = 3 * MONITOR_INTERVAL_SECONDS


def keepalive_thresholds(client: Client) -> dict[str, int]:
    thresholds = {
        "warning": settings.MONITORING_KEEPALIVE_WARNING_SECONDS,
        "critical": settings.MONITORING_KEEPALIVE_CRITICAL_SECONDS,
    }
    custom = (client.keepalive or {}).get("thresholds") or {}
    for level in ("warning", "critical"):
        if isinstance(custom.get(level), int):
            thresholds[level] = custom[level]
    return thresholds


def keepalive_check(client: Client, *, now: int) -> dict:
    """Sensu's `create_keepalive_check` plus the age test of `determine_stale_clients`."""
    thresholds = keepalive_thresholds(client)
    check = {k: v for k, v in (client.keepalive or {}).items() if k != "thresholds"}
    age = now - client.timestamp
    if age >= thresholds["critical"]:
        status = 2
        output = f"No keepalive sent from client for {age} seconds (>={thresholds['critical']})"
    elif age >= thresholds["warning"]:
        status = 1
        output = f"No keepalive sent from client for {age} seconds (>={thresholds['warning']})"
    else:
        status = 0
        output = f"Keepalive sent from client {age} seconds ago"
    check.update(
        name="keepalive",
        thresholds=thresholds,
        status=status,
        output=output,
        issued=now,
        executed=now,
    )
    return check


def keepalive_monitor_run(*, now: int | None = None) -> int:
    """
    Publish a keepalive result for every client with keepalives on; returns how many (0
    when the previous sweep still holds the lease). `now` (epoch seconds) pins the clock
    for tests; otherwise each client is aged at the moment it is handled.
    """
    with exclusive_run_lease(name=KEEPALIVE_MONITOR_JOB, seconds=MONITOR_LEASE_SECONDS) as lease:
        if lease is None:
            return 0
        return keepalive_sweep(lease=lease, now=now)


def keepalive_sweep(*, lease: RunLease, now: int | None) -> int:
    last = {
        client_id: (executed, status)
        for client_id, executed, status in CheckResult.objects.filter(
            check_name="keepalive"
        ).values_list("client_id", "executed", "status")
    }
    published = 0
    for client in Client.objects.filter(keepalives=True).iterator(chunk_size=500):
        if not lease.renew_if_due():
            logger.warning("Keepalive monitor lost its lease; stopping after %d", published)
            break
        # Per client: a sweep of thousands of clients takes a while, and a clock read at its
        # start would understate the age of every client handled late.
        client_now = now if now is not None else epoch_now()
        check = keepalive_check(client, now=client_now)
        previous = last.get(client.pk)
        if (
            previous
            and previous[0] is not None
            and 0 <= client_now - previous[0] < MIN_GAP_SECONDS
            and previous[1] == check["status"]
        ):
            continue  # Already handled this tick.
        try:
            result_process(client_name=client.name, check=check, now=client_now)
            published += 1
        except Exception:  # One bad client must not stop the sweep.
            logger.exception("Keepalive monitor failed for client %s", client.name)
    return published


def ttl_monitor_run(*, now: int | None = None) -> int:
    """
    Sensu's `determine_stale_check_results`: a result older than its ttl gets a result with
    status ttl_status (default 1). Skipped while the client has a keepalive event, so a dead
    client raises one alert rather than one per check. Returns how many were published (0
    when the previous sweep still holds the lease); `now` as for keepalive_monitor_run.
    """
    with exclusive_run_lease(name=TTL_MONITOR_JOB, seconds=MONITOR_LEASE_SECONDS) as lease:
        if lease is None:
            return 0
        return ttl_sweep(lease=lease, now=now)


def ttl_sweep(*, lease: RunLease, now: int | None) -> int:
    expired_rows_purge()
    dead_clients = set(
        Event.objects.filter(check_name="keepalive").values_list("client_id", flat=True)
    )
    published = 0
    stale = CheckResult.objects.filter(ttl__isnull=False, executed__isnull=False).select_related(
        "client"
    )
    for result in stale.iterator(chunk_size=500):
        if not lease.renew_if_due():
            logger.warning("TTL monitor lost its lease; stopping after %d", published)
            break
        data = result.check_data
        if data.get("force_resolve") or result.client_id in dead_clients:
            continue
        result_now = now if now is not None else epoch_now()  # Per result, as for keepalives.
        age = result_now - result.executed
        if age < result.ttl:
            continue
        issued = data.get("issued")
        if (
            str(data.get("output", "")).startswith(TTL_OUTPUT_PREFIX)
            and isinstance(issued, int)
            and 0 <= result_now - issued < MIN_GAP_SECONDS
        ):
            continue  # Already fired this tick.
        check = {k: v for k, v in data.items() if k not in ("history", "total_state_change")}
        check.pop("source", None)
        check.pop("origin", None)
        ttl_status = data.get("ttl_status")
        check.update(
            output=f"{TTL_OUTPUT_PREFIX} {age} seconds ago",
            status=ttl_status if isinstance(ttl_status, int) else 1,
            interval=MONITOR_INTERVAL_SECONDS,
            issued=result_now,
            executed=result.executed,
        )
        try:
            result_process(client_name=result.client.name, check=check, now=result_now)
            published += 1
        except Exception:
            logger.exception("TTL monitor failed for %s/%s", result.client.name, result.check_name)
    return published
