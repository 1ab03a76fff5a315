from django.db import migrations


def create_head(apps, schema_editor):
    # The single row every appender locks; creating it here avoids a get_or_create race.
    apps.get_model("audits", "AuditChainHead").objects.get_or_create(
        pk=1, defaults={"last_seq": 0, "last_hash": "0" * 64}
    )


class Migration(migrations.Migration):
    dependencies = [("audits", "0001_audit_event_chain")]

    operations = [migrations.RunPython(create_head, migrations.RunPython.noop)]
