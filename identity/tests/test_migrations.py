"""Installs from before the move of integration_site/console to identity/ keep their jobs."""

from importlib import import_module

import pytest
from django.apps import apps
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from identity.tasks import provisioning_sync
from integration_site.models import ScheduledJob

rename = import_module("identity.migrations.0002_task_paths_follow_the_identity_app")
OLD_PATH = "integration_site.console.tasks.provisioning_sync"

pytestmark = pytest.mark.django_db


def test_schedule_rows_and_queued_tasks_follow_the_code_to_identity():
    next_run = timezone.now()
    ScheduledJob.objects.create(name=OLD_PATH, next_run_at=next_run)
    queued = DBTaskResult.objects.get(id=provisioning_sync.enqueue().id)
    DBTaskResult.objects.filter(id=queued.id).update(task_path=OLD_PATH)

    rename.forwards(apps, None)

    job = ScheduledJob.objects.get(name="identity.tasks.provisioning_sync")
    assert job.next_run_at == next_run  # the schedule carries on, not starting over
    queued.refresh_from_db()
    assert queued.task_path == "identity.tasks.provisioning_sync"
    assert queued.task.func is provisioning_sync.func  # the worker can import what it names

    rename.backwards(apps, None)
    assert ScheduledJob.objects.filter(name=OLD_PATH).exists()
