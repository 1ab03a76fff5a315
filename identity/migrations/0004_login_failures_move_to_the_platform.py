"""
The lockout ledger moved to the platform (integration_site.LoginFailure), which HTTP Basic
and the admin's login now share. The rows of the lockout window in force move with it, as
do the permissions groups and users held on the old model (who may view and delete rows to
unlock someone); then the old table is dropped.
"""

from django.conf import settings
from django.db import migrations

BATCH = 1000
ACTIONS = ("view", "delete", "change", "add")


def _copy_rows(source, target) -> None:
    batch = []
    for row in source.objects.order_by("pk").iterator(chunk_size=BATCH):
        batch.append(
            target(
                username=row.username,
                remote_address=row.remote_address,
                failed_at=row.failed_at,
            )
        )
        if len(batch) >= BATCH:
            target.objects.bulk_create(batch)
            batch = []
    target.objects.bulk_create(batch)


def _copy_grants(apps, from_label: str, to_label: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    permission = apps.get_model("auth", "Permission")
    group = apps.get_model("auth", "Group")
    user = apps.get_model(settings.AUTH_USER_MODEL)
    for action in ACTIONS:
        old = permission.objects.filter(
            content_type__app_label=from_label, codename=f"{action}_loginfailure"
        ).first()
        if old is None:
            continue  # a fresh database: post_migrate has not created permissions yet
        target_type, _ = content_type.objects.get_or_create(
            app_label=to_label, model="loginfailure"
        )
        new, _ = permission.objects.get_or_create(
            content_type=target_type,
            codename=f"{action}_loginfailure",
            defaults={"name": f"Can {action} login failure"},
        )
        for holder in group.objects.filter(permissions=old):
            holder.permissions.add(new)
        for holder in user.objects.filter(user_permissions=old):
            holder.user_permissions.add(new)


def forwards(apps, schema_editor):
    _copy_rows(apps.get_model("console", "LoginFailure"), apps.get_model("integration_site", "LoginFailure"))
    _copy_grants(apps, "console", "integration_site")


def backwards(apps, schema_editor):
    _copy_rows(apps.get_model("integration_site", "LoginFailure"), apps.get_model("console", "LoginFailure"))
    _copy_grants(apps, "integration_site", "console")


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0003_provisioning_sync_uses_the_run_lease"),
        ("integration_site", "0004_login_failure_ledger"),
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.DeleteModel(name="LoginFailure"),
    ]
