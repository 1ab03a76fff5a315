"""Background work for licensing, run by `manage.py worker` (django.tasks, database backend)."""

from datetime import timedelta

from django.tasks import task

from integration_site.schedule import periodic
from licensing.update_jobs import update_job_execute, update_jobs_fail_stale

# A queue of its own (settings.WORKER_DEDICATED_QUEUES), served by `manage.py worker
# --queue-name updates`: a hook may run for minutes, and the main worker must keep draining
# results and beating the periodic jobs meanwhile. Keep the task's name: queued rows store it.
UPDATES_QUEUE = "updates"


@task(queue_name=UPDATES_QUEUE)
def update_job_run(job_id: int) -> str:
    """Apply the releases of one UpdateJob; progress and log lines are written as it goes."""
    return update_job_execute(job_id=job_id)


# Often enough that a dead worker's job is failed within a minute of the stale horizon.
@periodic(every=timedelta(seconds=30))
@task()
def update_jobs_reap() -> list[int]:
    """Fail update jobs whose worker died mid-apply."""
    return update_jobs_fail_stale()
