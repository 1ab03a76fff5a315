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


@pytest.mark.django_db(transaction=True)
def test_login_failures_and_their_grants_move_to_the_platform():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [
        ("console", "0003_provisioning_sync_uses_the_run_lease"),
        ("integration_site", "0003_scheduled_job_run_lease"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    failed_at = timezone.now()
    old.get_model("console", "LoginFailure").objects.create(
        username="alice", remote_address="203.0.113.7", failed_at=failed_at
    )
    console_type, _ = old.get_model("contenttypes", "ContentType").objects.get_or_create(
        app_label="console", model="loginfailure"
    )
    unlock, _ = old.get_model("auth", "Permission").objects.get_or_create(
        content_type=console_type,
        codename="delete_loginfailure",
        defaults={"name": "Can delete login failure"},
    )
    old.get_model("auth", "Group").objects.create(name="helpdesk").permissions.add(unlock)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from django.contrib.auth.models import Group

    from integration_site.models import LoginFailure

    [row] = LoginFailure.objects.values("username", "remote_address", "failed_at")
    assert row == {"username": "alice", "remote_address": "203.0.113.7", "failed_at": failed_at}
    helpdesk = Group.objects.get(name="helpdesk")
    assert helpdesk.permissions.filter(
        content_type__app_label="integration_site", codename="delete_loginfailure"
    ).exists()
    assert "console_loginfailure" not in connection.introspection.table_names()
