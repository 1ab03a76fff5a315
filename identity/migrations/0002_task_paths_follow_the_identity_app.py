"""
The app's code moved from `integration_site/console/` to `identity/` (the label stays
`console`, so its tables and migration history are untouched). Task paths name the module,
so rows written before the move would name code that no longer exists: the periodic job's
schedule row (its next run would start over under the new name) and queued tasks (the worker
could no longer import them). Both are renamed; nothing is dropped.
"""

from django.db import migrations
from django.db.models import Value
from django.db.models.functions import Concat, Substr

OLD = "integration_site.console."
NEW = "identity."


def rename(model, field: str, old: str, new: str) -> None:
    rows = model.objects.filter(**{f"{field}__startswith": old})
    rows.update(**{field: Concat(Value(new), Substr(field, len(old) + 1))})


def forwards(apps, schema_editor):
    rename(apps.get_model("integration_site", "ScheduledJob"), "name", OLD, NEW)
    rename(apps.get_model("django_tasks_database", "DBTaskResult"), "task_path", OLD, NEW)


def backwards(apps, schema_editor):
    rename(apps.get_model("integration_site", "ScheduledJob"), "name", NEW, OLD)
    rename(apps.get_model("django_tasks_database", "DBTaskResult"), "task_path", NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0001_identity_and_provisioning"),
        ("integration_site", "0003_scheduled_job_run_lease"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
