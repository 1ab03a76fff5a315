"""
Retention checkpoints are append-only too (PostgreSQL): verification starts from the latest
one, so rewriting or removing a checkpoint would move where the chain is checked from. Only
INSERT is allowed (audits_expire writes one per run); TRUNCATE is refused outside Django's
test databases, on the same terms as the event table's trigger (0004).
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION audits_auditcheckpoint_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    allow_truncate text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        allow_truncate := coalesce(current_setting('audits.allow_truncate', true), '');
        IF allow_truncate = 'on'
           OR (current_database() LIKE 'test\_%' AND allow_truncate <> 'off') THEN
            RETURN NULL;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit checkpoints are append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audits_auditcheckpoint_no_update_delete
    BEFORE UPDATE OR DELETE ON audits_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION audits_auditcheckpoint_append_only();
CREATE TRIGGER audits_auditcheckpoint_no_truncate
    BEFORE TRUNCATE ON audits_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION audits_auditcheckpoint_append_only();
ALTER TABLE audits_auditcheckpoint ENABLE ALWAYS TRIGGER audits_auditcheckpoint_no_update_delete;
ALTER TABLE audits_auditcheckpoint ENABLE ALWAYS TRIGGER audits_auditcheckpoint_no_truncate;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audits_auditcheckpoint_no_update_delete ON audits_auditcheckpoint;
DROP TRIGGER IF EXISTS audits_auditcheckpoint_no_truncate ON audits_auditcheckpoint;
DROP FUNCTION IF EXISTS audits_auditcheckpoint_append_only();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(FORWARD)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0009_retraced_actor_target_fields"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
