"""Background work for licensing, run by `manage.py worker` (django.tasks, database backend)."""

from datetime import timedelta

from django.dispatch import receiver
from django.tasks import task

from integration_site.schedule import periodic
from licensing.services.updates import (
    update_job_execute,
    update_job_queued,
    update_job_task_record,
    update_jobs_fail_stale,
)


@task()
def update_job_run(job_id: int) -> str:
    """Apply the releases of one UpdateJob; progress and log lines are written as it goes."""
    return update_job_execute(job_id=job_id)


@receiver(update_job_queued, dispatch_uid="licensing.tasks.update_job_enqueue")
def update_job_enqueue(sender, *, job_id: int, **kwargs) -> None:
    """A job was queued and its transaction committed: hand it to the worker."""
    result = update_job_run.enqueue(job_id=job_id)
    update_job_task_record(job_id=job_id, task_result_id=str(result.id))


# Often enough that a dead worker's job is failed within a minute of the stale horizon.
@periodic(every=timedelta(seconds=30))
@task()
def update_jobs_reap() -> list[int]:
    """Fail update jobs whose worker died mid-apply."""
    return update_jobs_fail_stale()
