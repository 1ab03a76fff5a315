"""
Pending events (single-event ingest stores them without taking the chain lock; the worker
links them): seq/prev_hash/hash become nullable, a partial index finds the pending rows, and
on PostgreSQL the append-only trigger from 0004 is replaced by one that allows exactly one
UPDATE: linking a pending row, i.e. seq, prev_hash and hash going from NULL to set with every
other column unchanged. Any other UPDATE, DELETE (outside retention) and TRUNCATE is still
rejected.
"""

from importlib import import_module

from django.db import migrations, models

FORWARD = r"""
CREATE OR REPLACE FUNCTION audits_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    through text;
    allow_truncate text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
           AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
           AND (to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash')
               = (to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash') THEN
            RETURN NEW;  -- linking a pending event
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        through := current_setting('audits.expire_through_seq', true);
        IF through IS NOT NULL AND through <> '' AND OLD.seq <= through::bigint THEN
            RETURN OLD;
        END IF;
    ELSIF TG_OP = 'TRUNCATE' THEN
        allow_truncate := coalesce(current_setting('audits.allow_truncate', true), '');
        IF allow_truncate = 'on'
           OR (current_database() LIKE 'test\_%' AND allow_truncate <> 'off') THEN
            RETURN NULL;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Use manage.py audits_expire --days N to remove old events.';
END;
$$;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(FORWARD)


def restore_0004(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        previous = import_module("audits.migrations.0004_append_only_triggers").FORWARD
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(previous.split("CREATE TRIGGER")[0])


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0006_audit_search_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(editable=False, null=True, unique=True),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("seq__isnull", True)), fields=["id"], name="audit_pending_idx"
            ),
        ),
        migrations.RunPython(install, restore_0004),
    ]
