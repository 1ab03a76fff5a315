"""
The trail holds against the site's own database role (PostgreSQL; SQLite keeps what it had):

- Retention goes through `audits_expire_through(seq)`, a SECURITY DEFINER function owned by
  the tables' owner (whoever runs this migration) with its search_path pinned (pg_temp last,
  so a session's temporary tables cannot stand in for ours). It removes the chain's prefix up
  to `seq` and writes the checkpoint, and refuses when any of those events was received
  within the minimum retention held in `audits_retention_floor`, a table only the owner
  writes (`manage.py migrate` sets it from AUDIT_MIN_RETENTION_DAYS).
- The event trigger lets a DELETE through only for a transaction the function has entered in
  `audits_expiry_grant` (owner-only): no session setting opens it any more, and the
  `test_*` database allowance is gone. TRUNCATE of events and checkpoints passes only for a
  superuser in `session_replication_role = replica`: the test runner's flush does that
  (conftest.py), and a superuser can disable the triggers anyway.
- The chain head only moves forward: an UPDATE to a lower seq, or to the same seq with
  another hash, is refused, as are DELETE and TRUNCATE.
"""

from importlib import import_module

from django.db import migrations

# The event trigger of 0007 ({schema}: see FORWARD) with the two session-setting bypasses replaced.
EVENT_TRIGGER = r"""
CREATE OR REPLACE FUNCTION audits_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
           AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
           AND (to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash')
               = (to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash') THEN
            RETURN NEW;  -- linking a pending event
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF OLD.seq IS NOT NULL AND {schema}.audits_expiry_allows(OLD.seq) THEN
            RETURN OLD;  -- inside audits_expire_through
        END IF;
    ELSIF TG_OP = 'TRUNCATE' THEN
        IF {schema}.audits_superuser_flush() THEN
            RETURN NULL;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Use manage.py audits_expire --days N to remove old events.';
END;
$$;
"""

CHECKPOINT_TRIGGER = r"""
CREATE OR REPLACE FUNCTION audits_auditcheckpoint_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND {schema}.audits_superuser_flush() THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit checkpoints are append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

# {schema} is the schema the tables live in, quoted; every name in a SECURITY DEFINER body is
# qualified with it as well as pinned by search_path.
FORWARD = r"""
CREATE TABLE {schema}.audits_retention_floor (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    min_days integer NOT NULL CHECK (min_days >= 1)
);
INSERT INTO {schema}.audits_retention_floor (id, min_days) VALUES (1, {min_days});

CREATE TABLE {schema}.audits_expiry_grant (
    xact xid8 PRIMARY KEY,
    through_seq bigint NOT NULL
);

-- A superuser who switched replica mode on (a deliberate act; the test runner's flush).
CREATE OR REPLACE FUNCTION audits_superuser_flush() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT current_setting('session_replication_role') = 'replica'
       AND coalesce((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), false)
$$;

-- Whether this transaction is inside audits_expire_through, expiring through at least seq.
-- SECURITY DEFINER so the trigger can read the owner-only grant table for any role.
CREATE OR REPLACE FUNCTION audits_expiry_allows(p_seq bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM {schema}.audits_expiry_grant
        WHERE xact = pg_catalog.pg_current_xact_id() AND p_seq <= through_seq
    )
$$;

CREATE OR REPLACE FUNCTION audits_expire_through(p_through bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    floor_days integer;
    start_seq bigint;
    last_hash varchar;
    removed bigint;
BEGIN
    -- No append interleaves with the removal (the caller usually holds this lock already).
    PERFORM 1 FROM {schema}.audits_auditchainhead WHERE id = 1 FOR UPDATE;
    SELECT coalesce(max(seq), 0) INTO start_seq FROM {schema}.audits_auditcheckpoint;
    IF p_through <= start_seq THEN
        RETURN 0;
    END IF;
    SELECT hash INTO last_hash FROM {schema}.audits_auditevent WHERE seq = p_through;
    IF last_hash IS NULL THEN
        RAISE EXCEPTION 'no linked audit event at seq %', p_through
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT min_days INTO STRICT floor_days FROM {schema}.audits_retention_floor;
    IF EXISTS (
        SELECT 1 FROM {schema}.audits_auditevent
        WHERE seq <= p_through
          AND received_at >= pg_catalog.now() - pg_catalog.make_interval(days => floor_days)
    ) THEN
        RAISE EXCEPTION 'audit events through seq % include some received within the minimum '
                        'retention of % days', p_through, floor_days
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'The floor is AUDIT_MIN_RETENTION_DAYS, applied by manage.py migrate.';
    END IF;
    INSERT INTO {schema}.audits_expiry_grant (xact, through_seq)
        VALUES (pg_catalog.pg_current_xact_id(), p_through);
    -- Location and organization links go with their events (ON DELETE CASCADE).
    DELETE FROM {schema}.audits_auditevent WHERE seq <= p_through;
    GET DIAGNOSTICS removed = ROW_COUNT;
    DELETE FROM {schema}.audits_expiry_grant WHERE xact = pg_catalog.pg_current_xact_id();
    INSERT INTO {schema}.audits_auditcheckpoint (seq, hash, removed_count, created_at)
        VALUES (p_through, last_hash, removed, pg_catalog.now());
    RETURN removed;
END;
$$;
REVOKE ALL ON FUNCTION audits_expire_through(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION audits_auditchainhead_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.id = OLD.id AND (
            NEW.last_seq > OLD.last_seq
            OR (NEW.last_seq = OLD.last_seq AND NEW.last_hash = OLD.last_hash)
        ) THEN
            RETURN NEW;
        END IF;
    ELSIF TG_OP = 'TRUNCATE' AND {schema}.audits_superuser_flush() THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit chain head only moves forward: % on % is not allowed',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audits_auditchainhead_forward_only
    BEFORE UPDATE OR DELETE ON audits_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION audits_auditchainhead_forward_only();
CREATE TRIGGER audits_auditchainhead_no_truncate
    BEFORE TRUNCATE ON audits_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION audits_auditchainhead_forward_only();
ALTER TABLE audits_auditchainhead ENABLE ALWAYS TRIGGER audits_auditchainhead_forward_only;
ALTER TABLE audits_auditchainhead ENABLE ALWAYS TRIGGER audits_auditchainhead_no_truncate;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audits_auditchainhead_forward_only ON audits_auditchainhead;
DROP TRIGGER IF EXISTS audits_auditchainhead_no_truncate ON audits_auditchainhead;
DROP FUNCTION IF EXISTS audits_auditchainhead_forward_only();
DROP FUNCTION IF EXISTS audits_expire_through(bigint);
"""

BACKWARD_HELPERS = """
DROP FUNCTION IF EXISTS audits_expiry_allows(bigint);
DROP FUNCTION IF EXISTS audits_superuser_flush();
DROP TABLE IF EXISTS audits_expiry_grant;
DROP TABLE IF EXISTS audits_retention_floor;
"""


def install(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    from django.conf import settings

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
        cursor.execute(
            FORWARD.replace("{schema}", schema).replace(
                "{min_days}", str(int(settings.AUDIT_MIN_RETENTION_DAYS))
            )
        )
        # The trigger functions run as whoever writes: their calls are schema-qualified so a
        # session's own search_path cannot point them at look-alike functions.
        cursor.execute(EVENT_TRIGGER.replace("{schema}", schema))
        cursor.execute(CHECKPOINT_TRIGGER.replace("{schema}", schema))


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    events = import_module("audits.migrations.0007_pending_chain_links").FORWARD
    checkpoints = import_module("audits.migrations.0010_checkpoint_append_only").FORWARD
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(BACKWARD)
        cursor.execute(events)
        cursor.execute(checkpoints.split("CREATE TRIGGER")[0])
        cursor.execute(BACKWARD_HELPERS)


class Migration(migrations.Migration):
    dependencies = [("audits", "0011_audit_export_and_verification_jobs")]

    operations = [migrations.RunPython(install, uninstall)]
