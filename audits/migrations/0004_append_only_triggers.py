"""
PostgreSQL triggers that make the event table append-only: UPDATE, DELETE and TRUNCATE raise.

The one sanctioned deletion is `manage.py audits_expire`: inside its transaction it sets
`audits.expire_through_seq` (SET LOCAL semantics) and the trigger lets a DELETE through only
for rows at or below that seq, i.e. a prefix of the chain. The triggers are ENABLE ALWAYS, so
`session_replication_role = replica` does not switch them off; only the table owner's
`ALTER TABLE ... DISABLE TRIGGER` does (database privileges are the guard against the owner).

TRUNCATE is refused too, except in Django's own test databases (named test_*), where the test
runner empties every table between transactional tests; even there `SET audits.allow_truncate
= 'off'` restores the refusal (the trigger test does that).
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION audits_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    through text;
    allow_truncate text;
BEGIN
    IF TG_OP = 'DELETE' THEN
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

CREATE TRIGGER audits_auditevent_no_update_delete
    BEFORE UPDATE OR DELETE ON audits_auditevent
    FOR EACH ROW EXECUTE FUNCTION audits_auditevent_append_only();
CREATE TRIGGER audits_auditevent_no_truncate
    BEFORE TRUNCATE ON audits_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audits_auditevent_append_only();
ALTER TABLE audits_auditevent ENABLE ALWAYS TRIGGER audits_auditevent_no_update_delete;
ALTER TABLE audits_auditevent ENABLE ALWAYS TRIGGER audits_auditevent_no_truncate;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audits_auditevent_no_update_delete ON audits_auditevent;
DROP TRIGGER IF EXISTS audits_auditevent_no_truncate ON audits_auditevent;
DROP FUNCTION IF EXISTS audits_auditevent_append_only();
"""


def install(apps, schema_editor):
    # SQLite has no equivalent; there the admin and API are the only guards.
    if schema_editor.connection.vendor == "postgresql":
        # No params: the SQL's % signs must not be read as placeholders.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(FORWARD)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("audits", "0003_idempotency_keys")]

    operations = [migrations.RunPython(install, uninstall)]
