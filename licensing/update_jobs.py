"""
The worker's side of an update: running a queued UpdateJob (its steps, each release's hook,
progress and log lines) and failing jobs whose worker died. licensing.tasks runs these;
licensing.services.updates queues the jobs.
"""

import contextlib
import ctypes
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audits.context import AuditActor, AuditTarget, actor_for_user, audit_context
from audits.models import AuditSource, Crud
from audits.services import audit_event_record
from integration_site.schedule import pid_alive, worker_id_current
from licensing.choices import ACTIVE_JOB_STATES, JobState
from licensing.models import Installation, Release, UpdateJob, UpdateJobLogLine


def update_job_target(job: UpdateJob) -> AuditTarget:
    return AuditTarget(type="UpdateJob", id=str(job.pk), name=f"update to {job.target_sequence}")


def update_job_log(job: UpdateJob, message: str, *, progress: int | None = None) -> None:
    # Each line commits on its own (the worker runs in autocommit), so the admin page's poll
    # sees the log grow while the job runs.
    UpdateJobLogLine.objects.create(job=job, message=message)
    updates: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        updates["progress"] = max(0, min(100, progress))
    UpdateJob.objects.filter(pk=job.pk).update(**updates)


class UpdateJobFailed(Exception):
    """A step of a running job failed; the message is what the job's log and audit say."""


class HookFailed(UpdateJobFailed):
    pass


class UpdateJobTakenAway(UpdateJobFailed):
    """The job is no longer running under this worker (the reaper failed it): stop now."""


def _owned(job: UpdateJob):
    # Every state change the worker makes is conditional on this: the job is still running
    # and still this worker's, so a job the reaper failed stays failed.
    return UpdateJob.objects.filter(pk=job.pk, state=JobState.RUNNING, worker_id=job.worker_id)


def _heartbeat(job: UpdateJob) -> None:
    if not _owned(job).update(heartbeat_at=timezone.now()):
        raise UpdateJobTakenAway(
            "The job stopped being this worker's while it ran (the stale-job reaper failed it)."
        )


def _kill_process_group(process: subprocess.Popen) -> None:
    # The hook leads its own session (start_new_session), so its process group holds it and
    # every child it did not move elsewhere: none of them may outlive the hook's run.
    with contextlib.suppress(ProcessLookupError):  # the hook and its children all exited
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


_PR_SET_PDEATHSIG = 1
# Looked up once, here: the forked child should only make the system call, not load symbols.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:  # runs in the forked child, before exec
    # Linux: the kernel SIGKILLs the hook when the worker that started it dies, even by
    # SIGKILL or OOM, so a dead worker leaves no hook running on (the job is failed by the
    # stale-job reaper). Processes the hook itself forks are not covered.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# What a hook inherits from the worker's environment: enough to find programs, speak the
# locale and write temporary files. Never the rest: the worker's environment holds
# DJANGO_SECRET_KEY, DATABASE_URL and other secrets, and the job log shows what a hook prints.
HOOK_ENV_ALLOWED = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR"})


def hook_environment(job: UpdateJob, release: Release) -> dict[str, str]:
    """The scrubbed environment a release's hook runs with (README, Licenses and updates)."""
    passthrough = HOOK_ENV_ALLOWED | set(settings.UPDATE_HOOK_ENV_PASSTHROUGH)
    env = {
        name: value
        for name, value in os.environ.items()
        if name in passthrough or name.startswith("LC_")
    }
    env.update(
        RELEASE_SEQUENCE=str(release.sequence),
        RELEASE_VERSION=release.version,
        UPDATE_JOB_ID=str(job.pk),
    )
    return env


def _run_hook(job: UpdateJob, release: Release) -> None:
    args = shlex.split(release.hook_command)
    env = hook_environment(job, release)
    update_job_log(
        job, f"Running hook: {release.hook_command} (timeout {release.hook_timeout_seconds}s)"
    )
    try:
        process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=settings.BASE_DIR,
            start_new_session=True,  # so a timeout kills the hook's children too
            preexec_fn=_die_with_parent,
        )
    except OSError as exc:
        raise HookFailed(f"Hook could not start: {exc}") from exc

    lines: queue.Queue[str] = queue.Queue()

    def pump():
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + release.hook_timeout_seconds
    last_beat = 0.0

    def drain():
        while not lines.empty():
            update_job_log(job, f"  | {lines.get()}")

    # Whatever ends this block (a timeout, the job taken away, a lost database connection,
    # a signal) kills the hook's whole process group first: no hook runs on unattended.
    try:
        while process.poll() is None:
            drain()
            if time.monotonic() > deadline:
                _kill_process_group(process)
                drain()
                raise HookFailed(
                    f"Hook timed out after {release.hook_timeout_seconds}s and was killed."
                )
            if time.monotonic() - last_beat >= 1:
                _heartbeat(job)
                last_beat = time.monotonic()
            time.sleep(0.1)
    finally:
        _kill_process_group(process)
    reader.join(timeout=2)
    drain()
    if process.returncode != 0:
        raise HookFailed(f"Hook exited with status {process.returncode}.")


DEFAULT_STEPS = ("Checking the release", "Pulling images", "Migrating", "Restarting services")


def update_job_execute(*, job_id: int) -> str:
    """Run a queued job (called by the task). Returns the final state."""
    now = timezone.now()
    claimed = UpdateJob.objects.filter(pk=job_id, state=JobState.QUEUED).update(
        state=JobState.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker_id=worker_id_current(),
        worker_host=socket.gethostname()[:255],
        worker_pid=os.getpid(),
    )
    if not claimed:
        return "not queued"
    job = UpdateJob.objects.select_related("requested_by").get(pk=job_id)
    actor = (
        actor_for_user(job.requested_by)
        if job.requested_by
        else AuditActor(type="System", name=job.requested_by_name or "system")
    )
    with audit_context(actor=actor):
        audit_event_record(
            action="version.apply.start",
            crud=Crud.UPDATE,
            source=AuditSource.SYSTEM,
            target=update_job_target(job),
            description=f"Update job #{job.pk} started on {job.worker_host} (pid {job.worker_pid}).",
        )
        try:
            _apply_releases(job)
        except Exception as exc:
            _job_fail(job, str(exc) or exc.__class__.__name__, worker_id=job.worker_id)
            return JobState.FAILED
    return JobState.SUCCEEDED


def _apply_releases(job: UpdateJob) -> None:
    releases = {r.sequence: r for r in Release.objects.filter(sequence__in=job.plan)}
    missing = [s for s in job.plan if s not in releases]
    if missing:
        raise UpdateJobFailed(f"Releases {missing} were deleted after the job was queued.")
    delay = float(getattr(settings, "UPDATE_STEP_DELAY_SECONDS", 0) or 0)
    steps_per_release = len(DEFAULT_STEPS) + 1
    total = steps_per_release * len(job.plan)
    done = 0
    update_job_log(job, f"Started on {job.worker_host} (pid {job.worker_pid}).", progress=1)
    for sequence in job.plan:
        release = releases[sequence]
        update_job_log(job, f"Applying {release.version} (sequence {release.sequence})...")
        for step in DEFAULT_STEPS:
            if delay:
                time.sleep(delay)
            done += 1
            update_job_log(job, f"{release.version}: {step}", progress=int(done * 99 / total))
        if release.hook_command:
            _heartbeat(job)  # never start a hook for a job that is no longer ours
            _run_hook(job, release)
        done += 1
        update_job_log(job, f"{release.version} applied.", progress=int(done * 99 / total))

    target = releases[job.plan[-1]]
    with transaction.atomic():
        finished = timezone.now()
        # First, and conditional: a job the reaper failed meanwhile stays failed, and the
        # installation is then left alone (the exception rolls this transaction back).
        if not _owned(job).update(
            state=JobState.SUCCEEDED, progress=100, finished_at=finished, heartbeat_at=finished
        ):
            raise UpdateJobTakenAway(
                "The job stopped being this worker's before it finished (the stale-job reaper "
                "failed it); the current version was left unchanged."
            )
        installation = Installation.objects.select_for_update().get(pk=1)
        previous = installation.current_release
        installation.current_release = target
        installation.install_date = timezone.now()
        installation.save()
        UpdateJobLogLine.objects.create(
            job=job, message=f"Now running {target.version} (sequence {target.sequence})."
        )
        audit_event_record(
            action="version.apply.succeed",
            crud=Crud.UPDATE,
            source=AuditSource.SYSTEM,
            target=update_job_target(job),
            associated=AuditTarget(type="Installation", id="1"),
            description=f"Updated to {target.version} (sequence {target.sequence}).",
            audited_changes={
                "release_sequence": [previous.sequence if previous else None, target.sequence],
                "version": [previous.version if previous else None, target.version],
            },
        )


def _job_fail(
    job: UpdateJob, reason: str, *, only_if_running: bool = True, worker_id: str | None = None
) -> bool:
    """
    Mark the job failed (the current version is untouched). False if it already finished,
    or, given `worker_id`, if it is not that worker's any more.
    """
    finished = timezone.now()
    jobs = UpdateJob.objects.filter(pk=job.pk)
    if only_if_running:
        jobs = jobs.filter(state__in=ACTIVE_JOB_STATES)
    if worker_id is not None:
        jobs = jobs.filter(worker_id=worker_id)
    if not jobs.update(state=JobState.FAILED, error=reason[:2000], finished_at=finished):
        return False
    UpdateJobLogLine.objects.create(job=job, message=f"FAILED: {reason}")
    UpdateJobLogLine.objects.create(job=job, message="The current version was left unchanged.")
    audit_event_record(
        action="version.apply.fail",
        crud=Crud.UPDATE,
        source=AuditSource.SYSTEM,
        target=update_job_target(job),
        description=f"Update job #{job.pk} failed: {reason}",
        is_failure=True,
    )
    return True


def update_jobs_fail_stale(*, now=None) -> list[int]:
    """
    Fail running jobs whose worker died: no heartbeat for UPDATE_JOB_STALE_SECONDS, or, on
    this host, a worker process that no longer exists. Queued jobs whose task already
    finished (it crashed before claiming the job) are failed too.
    """
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    horizon = now - timedelta(seconds=settings.UPDATE_JOB_STALE_SECONDS)
    hostname = socket.gethostname()[:255]
    failed = []
    for job in UpdateJob.objects.filter(state__in=ACTIVE_JOB_STATES):
        reason = ""
        if job.state == JobState.RUNNING:
            if job.heartbeat_at is None or job.heartbeat_at < horizon:
                reason = (
                    f"The worker on {job.worker_host} (pid {job.worker_pid}) stopped reporting "
                    f"for over {settings.UPDATE_JOB_STALE_SECONDS}s; it is presumed dead."
                )
            elif (
                job.worker_host == hostname
                and job.worker_pid
                and job.worker_id != worker_id_current()
                and not pid_alive(job.worker_pid)
            ):
                # Host and pid only hint that a worker on this host is gone, to fail its job
                # sooner than the heartbeat would; the job belongs to its worker_id.
                reason = f"The worker process {job.worker_pid} on {hostname} died mid-update."
        elif job.task_result_id:
            task = DBTaskResult.objects.filter(pk=job.task_result_id).first()
            if task is not None and task.finished_at is not None:
                reason = "The update task ended without running the job."
        with audit_context():
            if reason and _job_fail(job, reason):
                failed.append(job.pk)
    return failed
