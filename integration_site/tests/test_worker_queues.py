"""Update jobs run apart from the periodic work: their own queue, worker and heartbeat thread."""

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus
from django.utils import timezone

from integration_site.models import ScheduledJob, WorkerHeartbeat
from integration_site.registry import registry
from integration_site.tests.worker_tasks import wait_for_own_heartbeat

# transaction=True: the worker closes stale connections between polls, and its heartbeat
# thread writes through a connection of its own, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_the_updates_worker_runs_no_periodic_jobs_or_tick_hooks():
    ticks = []

    def hook():
        ticks.append(1)

    registry["worker_tick_hooks"].add(hook)
    try:
        call_command("worker", "--once", "--queue-name", "updates")
        assert not ticks
        assert not ScheduledJob.objects.exists()

        call_command("worker", "--once")
        assert ticks
        assert ScheduledJob.objects.exists()
    finally:
        registry["worker_tick_hooks"].discard(hook)


def test_heartbeat_keeps_beating_while_a_long_task_runs(settings):
    settings.WORKER_HEARTBEAT_EVERY_SECONDS = 0.2
    # The task runs until it sees its worker's heartbeat advance (bounded generously).
    result = wait_for_own_heartbeat.enqueue(bound_seconds=30)

    call_command("worker", "--once", "--queue-name", "updates")

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert result.return_value is True
    # The clean stop still removes the row, and the thread does not bring it back.
    assert not WorkerHeartbeat.objects.exists()


def test_health_needs_a_worker_of_the_default_queue(admin_client_api):
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="updates-only",
        hostname="h",
        pid=1,
        started_at=now,
        last_seen_at=now,
        periodic=False,
    )
    response = admin_client_api.get("/health")
    assert response.status_code == 412
    (problem,) = response.json()["problems"]
    assert "no task worker of the default queue" in problem
    assert "only workers of dedicated queues" in problem

    WorkerHeartbeat.objects.create(
        worker_id="main", hostname="h", pid=2, started_at=now, last_seen_at=now
    )
    assert admin_client_api.get("/health").status_code == 204


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_worker_grows_its_connection_pool_for_its_threads(settings):
    from django.db import connection

    from integration_site.management.commands.worker import worker_pool_size_ensure

    options = connection.settings_dict["OPTIONS"].get("pool")
    if not isinstance(options, dict):
        pytest.skip("this run's settings use no connection pool")
    before = options["max_size"]
    settings.WORKER_DATABASE_POOL_MAX_SIZE = before + 3
    try:
        worker_pool_size_ensure()
        connection.ensure_connection()
        assert connection.pool.max_size == before + 3
    finally:
        connection.close()
        connection.close_pool()
        options["max_size"] = before


def test_worker_threads_default_to_the_registry():
    from integration_site.schedule import WorkerThreads

    assert WorkerThreads().loops == list(registry["worker_threads"])


def test_worker_threads_run_each_loop_restart_one_that_raises_and_stop_them_all():
    import threading

    from integration_site.schedule import WorkerThreads

    calls: list[str] = []
    stopped = threading.Event()

    def flaky(stopping):
        calls.append("flaky")
        if len(calls) == 1:
            raise RuntimeError("broker went away")

    def steady(stopping):
        stopping.wait()
        stopped.set()

    threads = WorkerThreads([flaky, steady])
    threads.RESTART_PAUSE_SECONDS = 0.01
    try:
        threads.start()
        for _ in range(500):
            if calls == ["flaky", "flaky"]:
                break
            threading.Event().wait(0.01)
        assert calls == ["flaky", "flaky"]  # raised once, started again, then returned
        assert not stopped.is_set()
    finally:
        threads.stop(timeout=5)
    assert stopped.is_set()
    assert not any(thread.is_alive() for thread in threads.threads)
