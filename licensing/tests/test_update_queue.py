"""Update jobs have a queue of their own, which the main worker leaves to the updates worker."""

import pytest
from django.core.management import call_command
from django.tasks import TaskResultStatus

from licensing.tasks import update_job_run

# transaction=True: the worker closes stale connections between polls, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_update_jobs_have_their_own_queue_which_the_main_worker_leaves_alone():
    queued = update_job_run.enqueue(job_id=987654)
    assert queued.task.queue_name == "updates"

    call_command("worker", "--once")  # the main worker: every queue but the dedicated ones
    queued.refresh()
    assert queued.status == TaskResultStatus.READY

    call_command("worker", "--once", "--queue-name", "updates")
    queued.refresh()
    assert queued.status != TaskResultStatus.READY
