"""The worker's own housekeeping as periodic tasks (imported from IntegrationSiteConfig.ready())."""

from datetime import timedelta

from django.tasks import task

from integration_site.schedule import periodic, task_results_fail_dead_workers


# As often as the update-job reaper (licensing.tasks), which waits on these rows' end.
@periodic(every=timedelta(seconds=30))
@task()
def task_results_reap() -> list[str]:
    """Fail task rows a dead worker left RUNNING."""
    return task_results_fail_dead_workers()
