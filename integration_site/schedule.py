"""
Periodic tasks, run by `manage.py worker`. A task registers with `periodic(every=...)`,
which adds it to `registry["periodic_jobs"]`; each worker tick enqueues the runs that are due. The claim is a conditional UPDATE on the
ScheduledJob row, so two workers never enqueue the same run, and a restarted worker resumes
from the stored schedule.

The claim only decides who enqueues a run, not whether the previous run has finished: a run
that can outlast `every` wraps its work in `exclusive_run_lease`, so a run that starts while
another still holds the lease skips instead of doing the same work twice at once.
"""

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.tasks import TaskResultStatus
from django.utils import timezone
from django.utils.crypto import get_random_string

from integration_site.models import ScheduledJob, WorkerHeartbeat
from integration_site.registry import registry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    task: object  # a django.tasks Task
    every: timedelta


def periodic(*, every: timedelta):
    """Decorator for a django.tasks Task (applied above @task) to run it every `every`."""

    def register(task):
        name = f"{task.module_path}"
        registry["periodic_jobs"][name] = PeriodicTask(name=name, task=task, every=every)
        return task

    return register


def run_worker_tick_hooks() -> None:
    """
    Run every hook in `registry["worker_tick_hooks"]`: cheap housekeeping on every worker
    loop (about once a second when idle) that must not wait for a periodic slot (audits links
    pending events). One that fails is logged and does not stop the others.
    """
    for fn in registry["worker_tick_hooks"]:
        try:
            fn()
        except Exception:
            logger.exception("worker tick hook %s failed", getattr(fn, "__qualname__", fn))


class WorkerThreads:
    """
    The loops of `registry["worker_threads"]`, each in a daemon thread of its own. A loop that
    raises is logged and started again after a pause (a broker or database outage must not
    end the consumer for good); `stop()` sets the shared event and waits for every loop.
    Django connections are per thread: each loop's is closed when it ends.
    """

    RESTART_PAUSE_SECONDS = 5.0

    def __init__(self, loops=None) -> None:
        self.loops = list(registry["worker_threads"] if loops is None else loops)
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for loop in self.loops:
            name = getattr(loop, "__qualname__", repr(loop))
            thread = threading.Thread(target=self._run, args=(loop,), name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def _run(self, loop) -> None:
        from django.db import connections

        try:
            while not self.stopping.is_set():
                try:
                    loop(self.stopping)
                    return  # A loop that returns has nothing (more) to do.
                except Exception:
                    logger.exception("worker thread %s failed; restarting", loop)
                    self.stopping.wait(self.RESTART_PAUSE_SECONDS)
        finally:
            connections.close_all()

    def stop(self, *, timeout: float = 30.0) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout)


def registered_periodic_tasks() -> list[PeriodicTask]:
    return list(registry["periodic_jobs"].values())


def scheduled_job_ensure(*, name: str, now: datetime) -> None:
    """Create `name`'s ScheduledJob row, due `now`, unless a row already exists."""
    try:
        with transaction.atomic():
            ScheduledJob.objects.get_or_create(name=name, defaults={"next_run_at": now})
    except IntegrityError:
        pass  # Another worker created it first.


def enqueue_due_periodic_tasks(*, now=None) -> list[str]:
    """Enqueue every periodic task whose run is due; returns the names enqueued."""
    now = now or timezone.now()
    jobs = registered_periodic_tasks()
    # One read per tick: most ticks find nothing due, and two transactions per job on every
    # tick cost an idle worker several percent of a core. The claim below still decides.
    next_runs = dict(
        ScheduledJob.objects.filter(name__in=[job.name for job in jobs]).values_list(
            "name", "next_run_at"
        )
    )
    enqueued = []
    for job in jobs:
        if job.name in next_runs and next_runs[job.name] > now:
            continue
        scheduled_job_ensure(name=job.name, now=now)
        with transaction.atomic():
            claimed = ScheduledJob.objects.filter(name=job.name, next_run_at__lte=now).update(
                next_run_at=now + job.every, last_run_at=now
            )
            if claimed:
                job.task.enqueue()
                enqueued.append(job.name)
    return enqueued


_worker_id: tuple[int, str] | None = None


def worker_id_current() -> str:
    """
    This worker process's id: host and pid first (for whoever reads it), then a random part,
    so a restarted container that reuses the hostname and pid 1 is still another worker.
    Work a worker claims (update jobs) records it, and only that worker may finish it.
    """
    global _worker_id
    pid = os.getpid()
    if _worker_id is None or _worker_id[0] != pid:  # a forked child is another worker
        _worker_id = (pid, f"{socket.gethostname()[:40]}-{pid}-{get_random_string(12)}")
    return _worker_id[1]


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host (one we may not signal exists too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# What a task row failed by the reaper records as its exception: not an importable class,
# as no exception was raised; the traceback field says what happened.
DEAD_WORKER_EXCEPTION = "integration_site.schedule.WorkerDied"


def workers_dead(worker_ids: set[str], *, now: datetime) -> dict[str, str]:
    """
    Which of `worker_ids` are dead, each with why: no heartbeat row (every `manage.py worker`
    beats before it claims anything and removes its row only once its work is done), a
    heartbeat older than WORKER_HEARTBEAT_MAX_AGE_SECONDS, or, on this host, a pid that no
    longer exists. What a dead worker left running (task rows, handler runs) is judged here.
    """
    horizon = now - timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS)
    hostname = socket.gethostname()[:255]
    beats = {b.worker_id: b for b in WorkerHeartbeat.objects.filter(worker_id__in=worker_ids)}
    dead = {}
    for worker_id in worker_ids:
        beat = beats.get(worker_id)
        if beat is None:
            dead[worker_id] = f"its worker {worker_id or '(none recorded)'} is gone (no heartbeat)"
        elif beat.last_seen_at < horizon:
            dead[worker_id] = (
                f"its worker {worker_id} stopped reporting at {beat.last_seen_at.isoformat()}, "
                f"over {settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS}s ago; it is presumed dead"
            )
        elif beat.hostname == hostname and not pid_alive(beat.pid):
            dead[worker_id] = f"its worker process {beat.pid} on {hostname} ({worker_id}) died"
    return dead


def task_results_fail_dead_workers(*, now: datetime | None = None) -> list[str]:
    """
    Fail the task rows a dead worker left RUNNING; returns their ids. django-tasks-db marks a
    row RUNNING when a worker claims it and finished when the task returns; a worker killed
    in between (kill -9, the OOM killer, a lost host) leaves it RUNNING for ever. The claim
    query skips such rows, so no work waits on them (a periodic task is enqueued afresh on
    its schedule, and a drain killed mid-batch rolled its batch back), but the row says the
    task still runs, and an update job whose task died before claiming the job waits on its
    row's end (licensing.update_jobs.update_jobs_fail_stale).

    A row's worker is its last worker id, judged by `workers_dead`. Each row is failed only if
    it is still RUNNING from the same claim, so a task that finished meanwhile keeps its
    result.
    """
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    current = worker_id_current()
    running = list(
        DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).only(
            "id", "task_path", "started_at", "worker_ids"
        )
    )
    if not running:
        return []
    last_worker = {row.pk: row.worker_ids[-1] if row.worker_ids else "" for row in running}
    dead = workers_dead(set(last_worker.values()) - {current}, now=now)
    failed = []
    for row in running:
        reason = dead.get(last_worker[row.pk])
        if reason is None:
            continue
        done = DBTaskResult.objects.filter(
            pk=row.pk, status=TaskResultStatus.RUNNING, started_at=row.started_at
        ).update(
            status=TaskResultStatus.FAILED,
            finished_at=now,
            exception_class_path=DEAD_WORKER_EXCEPTION,
            traceback=f"The task never finished: {reason[0].upper()}{reason[1:]}.",
            return_value=None,
        )
        if done:
            logger.warning("Failed task %s (%s): %s", row.pk, row.task_path, reason)
            failed.append(str(row.pk))
    return failed


def run_lease_owner_token() -> str:
    """A token unique to one run; host and pid first so a stuck holder can be found."""
    return f"{socket.gethostname()[:100]}-{os.getpid()}-{get_random_string(16)}"


@dataclass
class RunLease:
    """
    An exclusive hold on periodic job `name`'s run, until `expires_at` unless renewed. Only
    the run holding `owner` (its token) can renew or release it.
    """

    name: str
    owner: str
    seconds: int
    expires_at: datetime

    def renew(self, *, now: datetime | None = None) -> bool:
        """
        Push the expiry `seconds` past `now`; False when the lease is no longer ours (it
        lapsed and another run took it over), and then the caller must stop its work.
        """
        now = now or timezone.now()
        expires_at = now + timedelta(seconds=self.seconds)
        # Conditional on the token alone: a lease that lapsed but nobody took over is still
        # safe to keep, as no other run is doing the work.
        renewed = ScheduledJob.objects.filter(name=self.name, lease_owner=self.owner).update(
            lease_expires_at=expires_at
        )
        if renewed:
            self.expires_at = expires_at
        return bool(renewed)

    def renew_if_due(self, *, now: datetime | None = None) -> bool:
        """
        `renew` once a third of the lease has passed, else True without a query: cheap enough
        to call for every item of a long sweep, and two missed renewals still leave time.
        """
        now = now or timezone.now()
        if self.expires_at - now > timedelta(seconds=self.seconds * 2 / 3):
            return True
        return self.renew(now=now)

    def release(self) -> bool:
        """Give the lease up; False when it was not ours any more (lapsed and taken over)."""
        released = ScheduledJob.objects.filter(name=self.name, lease_owner=self.owner).update(
            lease_owner=None, lease_expires_at=None
        )
        return bool(released)


def run_lease_acquire(*, name: str, seconds: int, now: datetime | None = None) -> RunLease | None:
    """
    Take periodic job `name`'s run lease for `seconds`, or None while another run holds an
    unexpired one. Call it in autocommit: inside a transaction other workers cannot see the
    lease until that transaction commits.
    """
    now = now or timezone.now()
    scheduled_job_ensure(name=name, now=now)
    owner = run_lease_owner_token()
    expires_at = now + timedelta(seconds=seconds)
    # One conditional UPDATE decides, as the schedule claim does: PostgreSQL re-checks the
    # WHERE on a row a concurrent UPDATE just changed and SQLite serialises writers, so of
    # two runs racing for a free or lapsed lease exactly one gets a row back.
    taken = (
        ScheduledJob.objects.filter(name=name)
        .filter(Q(lease_owner__isnull=True) | Q(lease_expires_at__lte=now))
        .update(lease_owner=owner, lease_expires_at=expires_at)
    )
    if not taken:
        return None
    return RunLease(name=name, owner=owner, seconds=seconds, expires_at=expires_at)


@contextmanager
def exclusive_run_lease(*, name: str, seconds: int) -> Iterator[RunLease | None]:
    """
    Run the block holding `name`'s run lease, or yield None (logged at info) while another
    run holds it: the caller then skips its work. The block should call
    `lease.renew_if_due()` as it goes and stop when that returns False. The lease is released
    however the block ends; a worker killed outright leaves it to lapse after `seconds`.
    """
    lease = run_lease_acquire(name=name, seconds=seconds)
    if lease is None:
        # One more read, only on a skip: the log then names the holder to look for.
        owner, expires_at = ScheduledJob.objects.filter(name=name).values_list(
            "lease_owner", "lease_expires_at"
        ).first() or (None, None)
        logger.info("Skipping %s: run %s holds its lease until %s", name, owner, expires_at)
        yield None
        return
    try:
        yield lease
    finally:
        if not lease.release():
            logger.warning("%s: the lease lapsed and was taken over before this run ended", name)
