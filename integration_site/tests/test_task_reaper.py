"""Task rows a dead worker left RUNNING are failed; a live worker's are left alone."""

import os
import socket
import subprocess
from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from integration_site.models import WorkerHeartbeat
from integration_site.schedule import task_results_fail_dead_workers, worker_id_current
from integration_site.tests.worker_tasks import wait_for_own_heartbeat

pytestmark = pytest.mark.django_db


def _claimed_by(worker_id: str) -> DBTaskResult:
    """A task row a worker claimed (RUNNING) and, as far as the row says, still runs."""
    result = wait_for_own_heartbeat.enqueue(bound_seconds=1)
    row = DBTaskResult.objects.get(pk=result.id)
    row.claim(worker_id)
    return row


def _beat(worker_id: str, *, hostname: str, pid: int, age_seconds: float = 0) -> None:
    seen = timezone.now() - timedelta(seconds=age_seconds)
    WorkerHeartbeat.objects.create(
        worker_id=worker_id, hostname=hostname, pid=pid, started_at=seen, last_seen_at=seen
    )


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()  # exited and reaped: no process has this pid now
    return child.pid


def test_rows_of_dead_workers_are_failed_and_live_workers_rows_are_left(settings):
    here = socket.gethostname()[:255]
    stale = settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS + 5
    # Dead: killed outright (its heartbeat row stays behind, stale, or was never written),
    # or a pid that no longer exists on this host (sooner than the heartbeat goes stale).
    no_heartbeat = _claimed_by("killed-before-any-beat")
    _beat("stale", hostname="another-host", pid=1, age_seconds=stale)
    stale_heartbeat = _claimed_by("stale")
    _beat("gone-here", hostname=here, pid=_dead_pid())
    gone_process = _claimed_by("gone-here")
    # Alive: a fresh heartbeat from another host, or a live pid here, or this very worker.
    _beat("other-host", hostname="another-host", pid=_dead_pid())
    other_host = _claimed_by("other-host")
    _beat("alive-here", hostname=here, pid=os.getpid())
    alive_here = _claimed_by("alive-here")
    own = _claimed_by(worker_id_current())

    failed = task_results_fail_dead_workers()

    dead = [no_heartbeat, stale_heartbeat, gone_process]
    assert sorted(failed) == sorted(str(row.pk) for row in dead)
    for row, reason in zip(dead, ["no heartbeat", "presumed dead", "died"], strict=True):
        result = wait_for_own_heartbeat.get_result(row.pk)
        assert result.status == TaskResultStatus.FAILED
        assert result.finished_at is not None
        assert reason in result.errors[0].traceback, result.errors[0].traceback
    for row in (other_host, alive_here, own):
        row.refresh_from_db()
        assert row.status == TaskResultStatus.RUNNING
        assert row.finished_at is None
    # Done once: a second sweep finds nothing more.
    assert task_results_fail_dead_workers() == []


def test_rows_claimed_again_by_a_live_worker_or_finished_are_left_alone():
    retried = _claimed_by("killed")
    _beat("retry", hostname="another-host", pid=1)
    retried.claim("retry")  # a row's worker is the last to claim it
    finished = _claimed_by("killed")
    finished.set_successful(True)

    assert task_results_fail_dead_workers() == []
    retried.refresh_from_db()
    assert retried.status == TaskResultStatus.RUNNING
    finished.refresh_from_db()
    assert finished.status == TaskResultStatus.SUCCESSFUL
