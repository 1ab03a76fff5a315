"""
The event table becomes a partitioned table on PostgreSQL, by range of `received_at` (monthly
by default, AUDIT_PARTITION_INTERVAL), so retention drops whole partitions instead of
deleting rows (audits/partitions.py). SQLite keeps the plain table; the model is the same.

What changes for everyone:
- `seq` is no longer UNIQUE in the database: a unique constraint on a partitioned table must
  include the partition key. The chain head's row lock already makes seq unique (one linker
  at a time, each taking the next number), and verification reports a duplicate as a break.
  It keeps a plain index (verification and retention walk it).
- The taxonomy links lose their foreign-key constraints for the same reason (a foreign key
  must reference a unique constraint, which would have to include received_at). Retention
  deletes an expired event's links itself.

On PostgreSQL the rows move: the old table is renamed, the partitioned one created with the
same columns, identity, checks and every index the old one had (read from the catalog, so
nothing is forgotten), one partition per interval holding events plus AUDIT_PARTITION_PREMAKE
ahead and a DEFAULT partition, so an insert never fails for want of a partition. The rows are
copied as they are (ids, seq and hashes unchanged: the chain still verifies), the triggers are
installed on the new table, and the old table is dropped. It runs in the migration's
transaction: a large trail takes minutes, and writes wait for it.

The append-only rules hold on every partition, present and future: the row trigger is
defined on the partitioned table, and PostgreSQL clones it, ENABLE ALWAYS included, onto each
partition however it is created or attached; a statement trigger is not cloned, so
`audits_partition_create` gives each partition its own TRUNCATE trigger. The site's role gets
no privilege on a partition itself (db_roles), only on the partitioned table.

Three SECURITY DEFINER functions, owned by the tables' owner (the site role owns nothing):
- `audits_partition_create(start, end)`: the partition for [start, end), if missing. Rows the
  DEFAULT partition holds for that range move into it (the default is detached for the move,
  so its triggers do not apply, and attached again).
- `audits_expire_partition(name)`: drops one whole partition past the retention floor,
  together with every other event at or below its last seq (the few events received just
  after its end but linked before its last one), so what is removed is always a prefix of the
  chain; writes the checkpoint. The caller holds lock_timeout short: the DETACH needs a moment
  of exclusive access to the table.
- `audits_expire_through(seq)` (0012) deletes the taxonomy links itself now.
"""

from django.conf import settings
from django.db import migrations, models

from audits.partitions import partition_ranges

TABLE = "audits_auditevent"

# {schema}: the tables' schema, quoted. Every name in a SECURITY DEFINER body is qualified
# with it as well as pinned by search_path (as in 0012).
PARTITIONED_TABLE = r"""
CREATE TABLE {schema}.audits_auditevent (
    LIKE {schema}.audits_auditevent_unpartitioned
    INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING STORAGE
) PARTITION BY RANGE (received_at);
ALTER TABLE {schema}.audits_auditevent
    ADD CONSTRAINT audits_auditevent_pkey PRIMARY KEY (id, received_at);
CREATE TRIGGER audits_auditevent_no_update_delete
    BEFORE UPDATE OR DELETE ON {schema}.audits_auditevent
    FOR EACH ROW EXECUTE FUNCTION {schema}.audits_auditevent_append_only();
CREATE TRIGGER audits_auditevent_no_truncate
    BEFORE TRUNCATE ON {schema}.audits_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audits_auditevent_append_only();
ALTER TABLE {schema}.audits_auditevent ENABLE ALWAYS TRIGGER audits_auditevent_no_update_delete;
ALTER TABLE {schema}.audits_auditevent ENABLE ALWAYS TRIGGER audits_auditevent_no_truncate;
CREATE TABLE {schema}.audits_auditevent_default PARTITION OF {schema}.audits_auditevent DEFAULT;
CREATE TRIGGER audits_auditevent_no_truncate
    BEFORE TRUNCATE ON {schema}.audits_auditevent_default
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audits_auditevent_append_only();
ALTER TABLE {schema}.audits_auditevent_default ENABLE ALWAYS TRIGGER audits_auditevent_no_truncate;
"""

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION audits_partition_create(p_start timestamptz, p_end timestamptz)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    part text := 'audits_auditevent_p' || pg_catalog.to_char(p_start AT TIME ZONE 'UTC', 'YYYYMMDD');
    low text := pg_catalog.to_char(p_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00';
    high text := pg_catalog.to_char(p_end AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00';
    moving boolean;
BEGIN
    IF p_end <= p_start THEN
        RAISE EXCEPTION 'empty partition range % to %', p_start, p_end
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF pg_catalog.to_regclass('{schema}.' || pg_catalog.quote_ident(part)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    SELECT EXISTS (
        SELECT 1 FROM {schema}.audits_auditevent_default
        WHERE received_at >= p_start AND received_at < p_end
    ) INTO moving;
    EXECUTE pg_catalog.format(
        'CREATE TABLE {schema}.%I (LIKE {schema}.audits_auditevent'
        ' INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)', part);
    IF moving THEN
        -- Detached, the default partition has none of the table's row triggers: its rows for
        -- this range move as they are (same ids, seq and hashes).
        ALTER TABLE {schema}.audits_auditevent DETACH PARTITION {schema}.audits_auditevent_default;
        EXECUTE pg_catalog.format(
            'INSERT INTO {schema}.%I SELECT * FROM {schema}.audits_auditevent_default'
            ' WHERE received_at >= $1 AND received_at < $2', part) USING p_start, p_end;
        DELETE FROM {schema}.audits_auditevent_default
            WHERE received_at >= p_start AND received_at < p_end;
    END IF;
    EXECUTE pg_catalog.format(
        'ALTER TABLE {schema}.audits_auditevent ATTACH PARTITION {schema}.%I'
        ' FOR VALUES FROM (%L) TO (%L)', part, low, high);
    IF moving THEN
        ALTER TABLE {schema}.audits_auditevent
            ATTACH PARTITION {schema}.audits_auditevent_default DEFAULT;
    END IF;
    -- Statement triggers are not cloned onto partitions: each gets its own.
    EXECUTE pg_catalog.format(
        'CREATE TRIGGER audits_auditevent_no_truncate BEFORE TRUNCATE ON {schema}.%I'
        ' FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audits_auditevent_append_only()', part);
    EXECUTE pg_catalog.format(
        'ALTER TABLE {schema}.%I ENABLE ALWAYS TRIGGER audits_auditevent_no_truncate', part);
    RETURN part;
END;
$$;
REVOKE ALL ON FUNCTION audits_partition_create(timestamptz, timestamptz) FROM PUBLIC;

CREATE OR REPLACE FUNCTION audits_expire_partition(p_partition text) RETURNS bigint[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    part oid;
    bound text;
    low timestamptz;
    high timestamptz;
    horizon timestamptz;
    floor_days integer;
    in_partition bigint;
    stragglers bigint := 0;
    through bigint;
    start_seq bigint;
    last_hash varchar;
    unsettled boolean;
BEGIN
    SELECT c.oid, pg_catalog.pg_get_expr(c.relpartbound, c.oid) INTO part, bound
      FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = '{schema}.audits_auditevent'::regclass AND c.relname = p_partition;
    IF part IS NULL OR bound = 'DEFAULT' THEN
        RAISE EXCEPTION '% is not a range partition of the audit events', p_partition
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    low := substring(bound FROM 'FROM \(''([^'']+)''\)')::timestamptz;
    high := substring(bound FROM 'TO \(''([^'']+)''\)')::timestamptz;
    SELECT min_days INTO STRICT floor_days FROM {schema}.audits_retention_floor;
    horizon := pg_catalog.now() - pg_catalog.make_interval(days => floor_days);
    IF high > horizon THEN
        RAISE EXCEPTION 'partition % holds events received within the minimum retention of % days',
                        p_partition, floor_days
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'The floor is AUDIT_MIN_RETENTION_DAYS, applied by manage.py migrate.';
    END IF;
    -- Counted before the chain lock, which every append waits on: a partition wholly in the
    -- past gains no rows (received_at is the server's clock when a row is stored), and the
    -- check under the lock below refuses if it did.
    EXECUTE pg_catalog.format('SELECT count(*), max(seq) FROM {schema}.%I', p_partition)
        INTO in_partition, through;
    -- Its events' location and organization links (derived data, outside the chain) go
    -- before the lock too, by the link tables' rows: there are far fewer of them.
    EXECUTE pg_catalog.format(
        'DELETE FROM {schema}.audits_auditeventlocation l USING {schema}.%I e'
        ' WHERE l.auditevent_id = e.id', p_partition);
    EXECUTE pg_catalog.format(
        'DELETE FROM {schema}.audits_auditeventorganization l USING {schema}.%I e'
        ' WHERE l.auditevent_id = e.id', p_partition);
    -- The table first, then the chain head: the order writers take them in (a linked append
    -- reads or sequences the table before it waits for the head), so the two cannot wait
    -- on each other. From here to the caller's commit is milliseconds; the caller's short
    -- lock_timeout bounds the wait for the table, during which new readers queue behind.
    LOCK TABLE {schema}.audits_auditevent IN ACCESS EXCLUSIVE MODE;
    PERFORM 1 FROM {schema}.audits_auditchainhead WHERE id = 1 FOR UPDATE;
    SELECT coalesce(max(seq), 0) INTO start_seq FROM {schema}.audits_auditcheckpoint;
    EXECUTE pg_catalog.format(
        'SELECT EXISTS (SELECT 1 FROM {schema}.%I WHERE seq IS NULL OR seq > $1)', p_partition)
        INTO unsettled USING coalesce(through, 0);
    IF unsettled THEN
        RAISE EXCEPTION 'partition % holds events not linked yet or stored since it was counted',
                        p_partition
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF through IS NOT NULL THEN
        IF through <= start_seq THEN
            RAISE EXCEPTION 'partition % ends at seq %, at or before the checkpoint at %',
                            p_partition, through, start_seq
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        -- Events received just after the partition's end but linked before its last event
        -- go with it, so that what is removed is exactly the chain's prefix through `through`.
        IF EXISTS (
            SELECT 1 FROM {schema}.audits_auditevent
            WHERE seq > start_seq AND seq <= through AND received_at >= horizon
              AND (received_at < low OR received_at >= high)
        ) THEN
            RAISE EXCEPTION 'events linked before seq % were received within the minimum '
                            'retention of % days', through, floor_days
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        EXECUTE pg_catalog.format('SELECT hash FROM {schema}.%I WHERE seq = $1', p_partition)
            INTO last_hash USING through;
        INSERT INTO {schema}.audits_expiry_grant (xact, through_seq)
            VALUES (pg_catalog.pg_current_xact_id(), through);
        DELETE FROM {schema}.audits_auditeventlocation WHERE auditevent_id IN (
            SELECT id FROM {schema}.audits_auditevent
            WHERE seq > start_seq AND seq <= through AND (received_at < low OR received_at >= high));
        DELETE FROM {schema}.audits_auditeventorganization WHERE auditevent_id IN (
            SELECT id FROM {schema}.audits_auditevent
            WHERE seq > start_seq AND seq <= through AND (received_at < low OR received_at >= high));
        DELETE FROM {schema}.audits_auditevent
            WHERE seq > start_seq AND seq <= through AND (received_at < low OR received_at >= high);
        GET DIAGNOSTICS stragglers = ROW_COUNT;
        DELETE FROM {schema}.audits_expiry_grant WHERE xact = pg_catalog.pg_current_xact_id();
    END IF;
    EXECUTE pg_catalog.format(
        'ALTER TABLE {schema}.audits_auditevent DETACH PARTITION {schema}.%I', p_partition);
    EXECUTE pg_catalog.format('DROP TABLE {schema}.%I', p_partition);
    IF through IS NULL THEN
        RETURN ARRAY[start_seq, 0];
    END IF;
    INSERT INTO {schema}.audits_auditcheckpoint (seq, hash, removed_count, created_at)
        VALUES (through, last_hash, in_partition + stragglers, pg_catalog.now());
    RETURN ARRAY[through, in_partition + stragglers];
END;
$$;
REVOKE ALL ON FUNCTION audits_expire_partition(text) FROM PUBLIC;

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
    -- The events' location and organization links go with them (no foreign key since
    -- 0019: the event table is partitioned).
    DELETE FROM {schema}.audits_auditeventlocation WHERE auditevent_id IN (
        SELECT id FROM {schema}.audits_auditevent WHERE seq > start_seq AND seq <= p_through);
    DELETE FROM {schema}.audits_auditeventorganization WHERE auditevent_id IN (
        SELECT id FROM {schema}.audits_auditevent WHERE seq > start_seq AND seq <= p_through);
    DELETE FROM {schema}.audits_auditevent WHERE seq > start_seq AND seq <= p_through;
    GET DIAGNOSTICS removed = ROW_COUNT;
    DELETE FROM {schema}.audits_expiry_grant WHERE xact = pg_catalog.pg_current_xact_id();
    INSERT INTO {schema}.audits_auditcheckpoint (seq, hash, removed_count, created_at)
        VALUES (p_through, last_hash, removed, pg_catalog.now());
    RETURN removed;
END;
$$;
"""


def partition(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = quote(cursor.fetchone()[0])
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename = %s AND indexname <> %s",
            [TABLE, f"{TABLE}_pkey"],
        )
        indexes = cursor.fetchall()
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_unpartitioned")
        cursor.execute(f"ALTER INDEX {TABLE}_pkey RENAME TO {TABLE}_unpartitioned_pkey")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {quote(name)}")
        cursor.execute(PARTITIONED_TABLE.replace("{schema}", schema))
        cursor.execute(FUNCTIONS.replace("{schema}", schema))
        cursor.execute(f"SELECT min(received_at) FROM {TABLE}_unpartitioned")
        (oldest,) = cursor.fetchone()
        for start, end in partition_ranges(
            oldest=oldest,
            interval=settings.AUDIT_PARTITION_INTERVAL,
            premake=settings.AUDIT_PARTITION_PREMAKE,
        ):
            cursor.execute("SELECT audits_partition_create(%s, %s)", [start, end])
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {TABLE}_unpartitioned")
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'),"
            f" coalesce((SELECT max(id) FROM {TABLE}_unpartitioned), 0) + 1, false)"
        )
        # Built after the copy: one pass per index instead of maintaining each per row.
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute(f"DROP TABLE {TABLE}_unpartitioned")
        cursor.execute(f"ANALYZE {TABLE}")


def unpartition(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename = %s AND indexname <> %s",
            [TABLE, f"{TABLE}_pkey"],
        )
        indexes = cursor.fetchall()
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_partitioned")
        cursor.execute(f"ALTER INDEX {TABLE}_pkey RENAME TO {TABLE}_partitioned_pkey")
        for name, _ in indexes:
            cursor.execute(f"ALTER INDEX {quote(name)} RENAME TO {quote(name[:50] + '_part')}")
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {TABLE}_partitioned INCLUDING DEFAULTS"
            " INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING STORAGE)"
        )
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {TABLE}_partitioned")
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'),"
            f" coalesce((SELECT max(id) FROM {TABLE}), 0) + 1, false)"
        )
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute(f"DROP TABLE {TABLE}_partitioned")
        cursor.execute(
            "DROP FUNCTION IF EXISTS audits_expire_partition(text);"
            " DROP FUNCTION IF EXISTS audits_partition_create(timestamptz, timestamptz);"
        )
        cursor.execute(
            "CREATE TRIGGER audits_auditevent_no_update_delete BEFORE UPDATE OR DELETE"
            f" ON {TABLE} FOR EACH ROW EXECUTE FUNCTION audits_auditevent_append_only();"
            " CREATE TRIGGER audits_auditevent_no_truncate BEFORE TRUNCATE"
            f" ON {TABLE} FOR EACH STATEMENT EXECUTE FUNCTION audits_auditevent_append_only();"
            f" ALTER TABLE {TABLE} ENABLE ALWAYS TRIGGER audits_auditevent_no_update_delete;"
            f" ALTER TABLE {TABLE} ENABLE ALWAYS TRIGGER audits_auditevent_no_truncate;"
        )


class Migration(migrations.Migration):
    dependencies = [("audits", "0018_hourly_event_counts")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["seq"], name="audit_seq_idx"),
        ),
        migrations.AlterField(
            model_name="auditeventlocation",
            name="auditevent",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=models.DO_NOTHING,
                to="audits.auditevent",
            ),
        ),
        migrations.AlterField(
            model_name="auditeventorganization",
            name="auditevent",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=models.DO_NOTHING,
                to="audits.auditevent",
            ),
        ),
        migrations.RunPython(partition, unpartition),
    ]
