"""Real concurrency: two applies racing (PostgreSQL, threads) and a worker killed mid-apply."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from licensing.choices import JobState
from licensing.models import Installation, Release, UpdateJob
from licensing.services.updates import UpdateConflict, update_apply_request
from licensing.update_jobs import update_jobs_fail_stale

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_concurrent_applies_exactly_one_wins(installed_license, releases):
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def apply():
        try:
            barrier.wait(timeout=10)
            job = update_apply_request(sequence=13)
            outcomes.append(f"job:{job.pk}")
        except UpdateConflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=apply) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "job"]
    assert UpdateJob.objects.count() == 1


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_for(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_worker_killed_mid_apply_is_detected_and_version_kept(
    installed_license, releases, tmp_path
):
    pid_file = tmp_path / "hook.pid"
    Release.objects.filter(sequence=12).update(
        hook_command=f"sh -c 'echo $$ > {pid_file}; echo hook started; exec sleep 60'",
        hook_timeout_seconds=120,
    )
    job = update_apply_request(sequence=12)  # autocommit: enqueued at once
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SECRET_KEY": "x"}
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--queue-name", "updates", "--interval", "0.2"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(
            lambda: job.log_lines.filter(message="  | hook started").exists(),
            timeout=60,
            what="the hook to start in the worker",
        )
        job.refresh_from_db()
        assert job.state == JobState.RUNNING and job.worker_pid == worker.pid
        hook_pid = int(pid_file.read_text())
        assert _running(hook_pid)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        # The kernel takes the hook down with the worker (PR_SET_PDEATHSIG).
        _wait_for(lambda: not _running(hook_pid), timeout=10, what="the hook to die")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if pid_file.exists():  # the orphaned hook
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)

    # The job still says running until the reaper looks at it.
    job.refresh_from_db()
    assert job.state == JobState.RUNNING
    assert update_jobs_fail_stale() == [job.pk]
    job.refresh_from_db()
    assert job.state == JobState.FAILED and "died mid-update" in job.error
    assert Installation.objects.get(pk=1).current_release.sequence == 10
    # The next apply is no longer blocked.
    update_apply_request(sequence=12)
