"""
Periodic tasks, run by `manage.py worker`. A task registers with `periodic(every=...)`;
each worker tick enqueues the runs that are due. The claim is a conditional UPDATE on the
ScheduledJob row, so two workers never enqueue the same run, and a restarted worker resumes
from the stored schedule.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from integration_site.models import ScheduledJob

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    task: object  # a django.tasks Task
    every: timedelta


_registry: dict[str, PeriodicTask] = {}


def periodic(*, every: timedelta):
    """Decorator for a django.tasks Task (applied above @task) to run it every `every`."""

    def register(task):
        name = f"{task.module_path}"
        _registry[name] = PeriodicTask(name=name, task=task, every=every)
        return task

    return register


_tick_hooks: list = []


def on_worker_tick(fn):
    """
    Register `fn()` to run on every `manage.py worker` loop (about once a second when idle),
    for cheap housekeeping that must not wait for a periodic slot (audits links pending
    events). Usable as a decorator; registering the same function twice is a no-op.
    """
    if fn not in _tick_hooks:
        _tick_hooks.append(fn)
    return fn


def run_worker_tick_hooks() -> None:
    """Run every tick hook; one that fails is logged and does not stop the others."""
    for fn in list(_tick_hooks):
        try:
            fn()
        except Exception:
            logger.exception("worker tick hook %s failed", getattr(fn, "__qualname__", fn))


def registered_periodic_tasks() -> list[PeriodicTask]:
    return list(_registry.values())


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
        try:
            with transaction.atomic():
                ScheduledJob.objects.get_or_create(name=job.name, defaults={"next_run_at": now})
        except IntegrityError:
            pass  # Another worker created it first.
        with transaction.atomic():
            claimed = ScheduledJob.objects.filter(name=job.name, next_run_at__lte=now).update(
                next_run_at=now + job.every, last_run_at=now
            )
            if claimed:
                job.task.enqueue()
                enqueued.append(job.name)
    return enqueued
