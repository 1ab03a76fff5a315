"""Tasks for the worker's tests (the database backend stores a task by its module path)."""

import time

from django.tasks import task

from integration_site.models import WorkerHeartbeat
from integration_site.schedule import worker_id_current


@task(queue_name="updates")
def wait_for_own_heartbeat(bound_seconds: float) -> bool:
    """
    A long task on the updates queue: runs until this worker's heartbeat advances past what it
    was when the task started, or `bound_seconds` pass; True when it saw a beat meanwhile.
    """
    worker_id = worker_id_current()
    before = WorkerHeartbeat.objects.get(worker_id=worker_id).last_seen_at
    deadline = time.monotonic() + bound_seconds
    while time.monotonic() < deadline:
        if WorkerHeartbeat.objects.get(worker_id=worker_id).last_seen_at > before:
            return True
        time.sleep(0.05)
    return False
