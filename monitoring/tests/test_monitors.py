"""Keepalive and TTL monitors (Sensu's client_monitor and check_result_monitor)."""

import logging
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from integration_site.models import ScheduledJob
from integration_site.schedule import (
    enqueue_due_periodic_tasks,
    exclusive_run_lease,
    registered_periodic_tasks,
    run_lease_acquire,
)
from monitoring.engine import result_process
from monitoring.models import CheckResult, Client, Event
from monitoring.monitors import (
    KEEPALIVE_MONITOR_JOB,
    MONITOR_LEASE_SECONDS,
    TTL_MONITOR_JOB,
    keepalive_monitor_run,
    ttl_monitor_run,
)
from monitoring.services import client_register

pytestmark = pytest.mark.django_db

NOW = 1_700_000_000


def register(name="web-1", *, age=0, keepalives=True, keepalive=None):
    client = client_register(
        data={"name": name, "address": "10.0.0.1", "keepalives": keepalives, "keepalive": keepalive}
    )
    Client.objects.filter(pk=client.pk).update(timestamp=NOW - age)
    return client


def keepalive_event(name="web-1"):
    return Event.objects.filter(client__name=name, check_name="keepalive").first()


@pytest.mark.parametrize(
    ("age", "status"), [(0, None), (119, None), (120, 1), (179, 1), (180, 2), (3600, 2)]
)
def test_keepalive_ages_at_the_thresholds(age, status):
    register(age=age)
    keepalive_monitor_run(now=NOW)
    event = keepalive_event()
    assert (event.status if event else None) == status
    result = CheckResult.objects.get(check_name="keepalive")
    if status == 2:
        assert result.output == f"No keepalive sent from client for {age} seconds (>=180)"
    elif status is None:
        assert result.output == f"Keepalive sent from client {age} seconds ago"


def test_keepalive_thresholds_overridable_per_client():
    register(age=45, keepalive={"thresholds": {"warning": 30, "critical": 60}})
    keepalive_monitor_run(now=NOW)
    assert keepalive_event().status == 1
    assert keepalive_event().check_data["thresholds"] == {"warning": 30, "critical": 60}


def test_keepalive_thresholds_from_settings(settings):
    settings.MONITORING_KEEPALIVE_WARNING_SECONDS = 10
    register(age=15)
    keepalive_monitor_run(now=NOW)
    assert keepalive_event().status == 1


def test_keepalive_event_resolves_when_client_comes_back():
    client = register(age=200)
    keepalive_monitor_run(now=NOW)
    assert keepalive_event().status == 2
    Client.objects.filter(pk=client.pk).update(timestamp=NOW + 25)
    keepalive_monitor_run(now=NOW + 30)
    assert keepalive_event() is None


def test_clients_without_keepalives_are_skipped():
    register(age=1000, keepalives=False)
    assert keepalive_monitor_run(now=NOW) == 0
    assert keepalive_event() is None


def test_keepalive_monitor_is_idempotent_within_a_tick():
    register(age=200)
    assert keepalive_monitor_run(now=NOW) == 1
    assert keepalive_monitor_run(now=NOW + 1) == 0
    assert keepalive_event().occurrences == 1
    assert keepalive_monitor_run(now=NOW + 30) == 1
    assert keepalive_event().occurrences == 2


def ttl_result(name="web-1", *, ttl=60, executed=NOW - 61, **extra):
    result_process(
        client_name=name,
        check={
            "name": "cron",
            "status": 0,
            "output": "ok",
            "ttl": ttl,
            "executed": executed,
            **extra,
        },
        now=executed,
    )


def test_ttl_monitor_uses_ttl_status():
    register()
    ttl_result(ttl_status=2)
    assert ttl_monitor_run(now=NOW) == 1
    event = Event.objects.get(check_name="cron")
    assert event.status == 2
    assert event.output == "Last check execution was 61 seconds ago"
    assert event.check_data["interval"] == 30
    assert ttl_monitor_run(now=NOW + 5) == 0, "idempotent within a tick"
    assert ttl_monitor_run(now=NOW + 30) == 1
    assert Event.objects.get(check_name="cron").occurrences == 2


def test_ttl_defaults_to_warning_and_waits_for_the_ttl():
    register()
    ttl_result(executed=NOW - 30)
    assert ttl_monitor_run(now=NOW) == 0
    assert ttl_monitor_run(now=NOW + 31) == 1
    assert Event.objects.get(check_name="cron").status == 1


def test_ttl_skipped_while_client_has_keepalive_event():
    register(age=500)
    ttl_result()
    keepalive_monitor_run(now=NOW)
    assert keepalive_event() is not None
    assert ttl_monitor_run(now=NOW) == 0
    assert not Event.objects.filter(check_name="cron").exists()


def test_ttl_ignores_force_resolved_results():
    register()
    ttl_result()
    ttl_monitor_run(now=NOW)
    from monitoring.engine import event_resolve

    event_resolve(client_name="web-1", check_name="cron")
    assert ttl_monitor_run(now=NOW + 300) == 0


def test_monitors_are_periodic_every_30_seconds_and_claimed_once():
    names = {t.name: t for t in registered_periodic_tasks()}
    for name in ("monitoring.tasks.keepalive_monitor", "monitoring.tasks.ttl_monitor"):
        assert names[name].every == timedelta(seconds=30)
    now = timezone.now()
    first = enqueue_due_periodic_tasks(now=now)
    assert "monitoring.tasks.keepalive_monitor" in first
    # A second worker ticking at the same moment claims nothing.
    second = enqueue_due_periodic_tasks(now=now)
    assert "monitoring.tasks.keepalive_monitor" not in second
    later = enqueue_due_periodic_tasks(now=now + timedelta(seconds=31))
    assert "monitoring.tasks.keepalive_monitor" in later


# Leases: a sweep that outlasts its 30 s interval must not overlap the next tick's.


def keepalive_history(name="web-1"):
    result = CheckResult.objects.filter(client__name=name, check_name="keepalive").first()
    return result.history if result else []


def test_monitor_leases_are_named_after_their_periodic_tasks():
    # The lease lives on the task's ScheduledJob row; a renamed task must rename its lease.
    names = {t.name for t in registered_periodic_tasks()}
    assert {KEEPALIVE_MONITOR_JOB, TTL_MONITOR_JOB} <= names


def test_keepalive_tick_is_skipped_while_the_previous_sweep_holds_the_lease(caplog):
    register(age=200)
    for tick in range(3):
        now = NOW + 30 * tick
        # The previous sweep, on another worker, is still going when this tick starts.
        still_running = run_lease_acquire(name=KEEPALIVE_MONITOR_JOB, seconds=90)
        with caplog.at_level(logging.INFO, logger="integration_site.schedule"):
            assert keepalive_monitor_run(now=now) == 0
        assert f"Skipping {KEEPALIVE_MONITOR_JOB}: run {still_running.owner}" in caplog.text
        assert [executed for _, executed, _ in keepalive_history()] == [
            NOW + 30 * earlier for earlier in range(tick)
        ], "the skipped tick published nothing"
        assert still_running.release()
        assert keepalive_monitor_run(now=now) == 1
    # Exactly one result per tick: no doubled history entries, no +2 occurrences.
    assert [executed for _, executed, _ in keepalive_history()] == [NOW, NOW + 30, NOW + 60]
    assert keepalive_event().occurrences == 3
    assert ScheduledJob.objects.get(name=KEEPALIVE_MONITOR_JOB).lease_owner is None


def test_ttl_tick_is_skipped_while_the_previous_sweep_holds_the_lease():
    register()
    ttl_result()
    still_running = run_lease_acquire(name=TTL_MONITOR_JOB, seconds=90)
    assert ttl_monitor_run(now=NOW) == 0
    assert not Event.objects.filter(check_name="cron").exists()
    assert still_running.release()
    assert ttl_monitor_run(now=NOW) == 1
    assert Event.objects.get(check_name="cron").occurrences == 1


def sessions_blocked_by_this_one() -> int:
    """PostgreSQL sessions waiting on a lock this test's connection holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_tick_overlapping_a_sweep_running_on_another_worker_publishes_nothing():
    # transaction=True: the first sweep runs on its own connection in a thread, as on a
    # second worker, and must see (and be blocked by) what this test commits and locks.
    register("web-1", age=200)
    register("web-2", age=200)
    first_sweep: dict[str, int] = {}

    def first_worker() -> None:
        try:
            first_sweep["published"] = keepalive_monitor_run(now=NOW)
        finally:
            connection.close()

    with transaction.atomic():
        # Locking the clients' rows stalls the first sweep mid-way: it has taken its lease
        # and waits on its first result's foreign key (a share lock on the client row).
        list(Client.objects.select_for_update())
        thread = threading.Thread(target=first_worker)
        thread.start()
        deadline = time.monotonic() + 10
        while not sessions_blocked_by_this_one():
            assert time.monotonic() < deadline, "the first sweep never reached a locked client"
            time.sleep(0.02)
        # The next tick, claimed and enqueued on time, while the first sweep is still going.
        second_sweep = keepalive_monitor_run(now=NOW + 1)
    # Asserted once the first sweep has finished, so it is never left blocked.
    thread.join(timeout=30)
    assert not thread.is_alive()
    for name in ("web-1", "web-2"):
        assert keepalive_event(name).occurrences == 1
        assert [executed for _, executed, _ in keepalive_history(name)] == [NOW]
    assert (first_sweep["published"], second_sweep) == (2, 0)


def test_lapsed_lease_of_a_killed_worker_is_taken_over():
    register(age=200)
    # A worker SIGKILLed mid-sweep never releases; its lease expired a while ago.
    killed = run_lease_acquire(
        name=KEEPALIVE_MONITOR_JOB, seconds=90, now=timezone.now() - timedelta(seconds=100)
    )
    assert keepalive_monitor_run(now=NOW) == 1
    assert keepalive_event().occurrences == 1
    # Had it only stalled, it finds out at its next renewal and stops.
    assert not killed.renew()
    assert not killed.release()


def test_an_unexpired_lease_is_not_taken_over():
    held = run_lease_acquire(name=KEEPALIVE_MONITOR_JOB, seconds=90)
    assert run_lease_acquire(name=KEEPALIVE_MONITOR_JOB, seconds=90) is None
    assert (
        run_lease_acquire(
            name=KEEPALIVE_MONITOR_JOB, seconds=90, now=held.expires_at - timedelta(seconds=1)
        )
        is None
    )
    assert run_lease_acquire(name=KEEPALIVE_MONITOR_JOB, seconds=90, now=held.expires_at)


def test_only_the_owner_releases_or_renews_the_lease():
    held = run_lease_acquire(name=KEEPALIVE_MONITOR_JOB, seconds=90)
    impostor = run_lease_acquire(
        name=KEEPALIVE_MONITOR_JOB, seconds=90, now=held.expires_at - timedelta(seconds=1)
    )
    assert impostor is None
    # Another run that got hold of the name but not the token changes nothing.
    other = type(held)(name=held.name, owner="someone-else", seconds=90, expires_at=held.expires_at)
    assert not other.release()
    assert not other.renew()
    row = ScheduledJob.objects.get(name=KEEPALIVE_MONITOR_JOB)
    assert (row.lease_owner, row.lease_expires_at) == (held.owner, held.expires_at)
    assert held.release()
    row.refresh_from_db()
    assert (row.lease_owner, row.lease_expires_at) == (None, None)
    assert not held.release(), "released once"


def test_renewal_extends_the_lease():
    start = timezone.now()
    held = run_lease_acquire(name=KEEPALIVE_MONITOR_JOB, seconds=90, now=start)
    assert held.expires_at == start + timedelta(seconds=90)
    # Within the first third no query is made and the expiry stays put...
    assert held.renew_if_due(now=start + timedelta(seconds=29))
    assert held.expires_at == start + timedelta(seconds=90)
    # ...after it the expiry moves a whole lease past now.
    assert held.renew_if_due(now=start + timedelta(seconds=31))
    assert held.expires_at == start + timedelta(seconds=121)
    row = ScheduledJob.objects.get(name=KEEPALIVE_MONITOR_JOB)
    assert row.lease_expires_at == start + timedelta(seconds=121)
    # So a run due at the original expiry still finds it held.
    assert (
        run_lease_acquire(name=KEEPALIVE_MONITOR_JOB, seconds=90, now=start + timedelta(seconds=90))
        is None
    )


def test_lease_is_released_when_the_sweep_fails():
    with (
        pytest.raises(RuntimeError),
        exclusive_run_lease(name=KEEPALIVE_MONITOR_JOB, seconds=MONITOR_LEASE_SECONDS) as lease,
    ):
        assert lease is not None
        raise RuntimeError("sweep failed")
    assert ScheduledJob.objects.get(name=KEEPALIVE_MONITOR_JOB).lease_owner is None


def test_lease_on_a_new_job_does_not_delay_its_schedule():
    # The lease may create the job's row before the scheduler does: the run is still due.
    now = timezone.now()
    run_lease_acquire(name=KEEPALIVE_MONITOR_JOB, seconds=90, now=now).release()
    assert KEEPALIVE_MONITOR_JOB in enqueue_due_periodic_tasks(now=now)


def test_each_client_is_aged_when_it_is_handled(monkeypatch):
    # A long sweep: Django's clock moves on 40 s each time it is read.
    clock = [timezone.now()]

    def advancing_now():
        clock[0] += timedelta(seconds=40)
        return clock[0]

    started = int(clock[0].timestamp())
    for name in ("web-1", "web-2"):
        client = register(name)
        Client.objects.filter(pk=client.pk).update(timestamp=started)
    monkeypatch.setattr(timezone, "now", advancing_now)
    assert keepalive_monitor_run() == 2
    first, second = (
        CheckResult.objects.get(client__name=name, check_name="keepalive")
        for name in ("web-1", "web-2")
    )
    assert second.executed > first.executed
    assert first.output.endswith(f"{first.executed - started} seconds (>=120)")
    assert second.output.endswith(f"{second.executed - started} seconds (>=180)")
