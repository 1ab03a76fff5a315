"""
A chain per project (docs/scaling.md, *The hash chain across shards*): each project's events
link into their own chain under their own head, so two projects' appends and links do not
wait on each other.

- Events get `chain` (1 for every event stored so far: the default project's chain holds
  them all, whatever their project), and `(chain, seq)` replaces the `seq` index.
- Heads get the `project` they serve; row 1 is the default project's. The site's role may
  INSERT a head (a project's first event), and the head trigger allows an INSERT only at
  seq 0 with the genesis hash.
- Checkpoints get `chain`; unique on (chain, seq).
- Counter watermarks: one row per chain (the id is the chain's).
- Retention names the chain: `audits_expire_through(chain, seq)`, the expiry grant and the
  append-only trigger's DELETE door compare (chain, seq), and `audits_expire_partition`
  writes one checkpoint per chain it removes events of.
"""

from importlib import import_module

from django.db import migrations, models

HEAD_TRIGGER = r"""
CREATE OR REPLACE FUNCTION audits_auditchainhead_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.last_seq = 0 AND NEW.last_hash = repeat('0', 64) THEN
            RETURN NEW;  -- a new project's chain, empty
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.id = OLD.id AND NEW.project = OLD.project AND (
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
DROP TRIGGER IF EXISTS audits_auditchainhead_forward_only ON audits_auditchainhead;
CREATE TRIGGER audits_auditchainhead_forward_only
    BEFORE INSERT OR UPDATE OR DELETE ON audits_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION audits_auditchainhead_forward_only();
ALTER TABLE audits_auditchainhead ENABLE ALWAYS TRIGGER audits_auditchainhead_forward_only;
"""

EVENT_TRIGGER = r"""
ALTER TABLE {schema}.audits_expiry_grant ADD COLUMN chain integer NOT NULL DEFAULT 1;
ALTER TABLE {schema}.audits_expiry_grant DROP CONSTRAINT audits_expiry_grant_pkey;
ALTER TABLE {schema}.audits_expiry_grant ADD PRIMARY KEY (xact, chain);

-- Whether this transaction is inside a retention function expiring `chain` through at least
-- `seq`. SECURITY DEFINER so the trigger can read the owner-only grant table for any role.
CREATE OR REPLACE FUNCTION audits_expiry_allows(p_chain integer, p_seq bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM {schema}.audits_expiry_grant
        WHERE xact = pg_catalog.pg_current_xact_id() AND chain = p_chain AND p_seq <= through_seq
    )
$$;

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
        IF OLD.seq IS NOT NULL AND {schema}.audits_expiry_allows(OLD.chain, OLD.seq) THEN
            RETURN OLD;  -- inside a retention function, for this chain
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
DROP FUNCTION IF EXISTS audits_expiry_allows(bigint);
"""

EXPIRE_THROUGH = r"""
DROP FUNCTION IF EXISTS audits_expire_through(bigint);
CREATE OR REPLACE FUNCTION audits_expire_through(p_chain integer, p_through bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    floor_days integer;
    start_seq bigint;
    last_hash varchar;
    removed bigint;
BEGIN
    -- No append to the chain interleaves with the removal (the caller holds this lock).
    PERFORM 1 FROM {schema}.audits_auditchainhead WHERE id = p_chain FOR UPDATE;
    SELECT coalesce(max(seq), 0) INTO start_seq FROM {schema}.audits_auditcheckpoint
        WHERE chain = p_chain;
    IF p_through <= start_seq THEN
        RETURN 0;
    END IF;
    SELECT hash INTO last_hash FROM {schema}.audits_auditevent
        WHERE chain = p_chain AND seq = p_through;
    IF last_hash IS NULL THEN
        RAISE EXCEPTION 'no linked audit event at seq % of chain %', p_through, p_chain
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT min_days INTO STRICT floor_days FROM {schema}.audits_retention_floor;
    IF EXISTS (
        SELECT 1 FROM {schema}.audits_auditevent
        WHERE chain = p_chain AND seq <= p_through
          AND received_at >= pg_catalog.now() - pg_catalog.make_interval(days => floor_days)
    ) THEN
        RAISE EXCEPTION 'audit events through seq % of chain % include some received within '
                        'the minimum retention of % days', p_through, p_chain, floor_days
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'The floor is AUDIT_MIN_RETENTION_DAYS, applied by manage.py migrate.';
    END IF;
    INSERT INTO {schema}.audits_expiry_grant (xact, chain, through_seq)
        VALUES (pg_catalog.pg_current_xact_id(), p_chain, p_through);
    -- Location and organization links go with their events (ON DELETE CASCADE).
    DELETE FROM {schema}.audits_auditevent WHERE chain = p_chain AND seq <= p_through;
    GET DIAGNOSTICS removed = ROW_COUNT;
    DELETE FROM {schema}.audits_expiry_grant WHERE xact = pg_catalog.pg_current_xact_id();
    INSERT INTO {schema}.audits_auditcheckpoint (chain, seq, hash, removed_count, created_at)
        VALUES (p_chain, p_through, last_hash, removed, pg_catalog.now());
    RETURN removed;
END;
$$;
REVOKE ALL ON FUNCTION audits_expire_through(integer, bigint) FROM PUBLIC;
"""

# One checkpoint per chain whose events the partition holds. Returns one row per such chain:
# (chain, the checkpoint's seq, events removed of it).
EXPIRE_PARTITION = r"""
DROP FUNCTION IF EXISTS audits_expire_partition(text);
CREATE OR REPLACE FUNCTION audits_expire_partition(p_partition text)
RETURNS TABLE (out_chain integer, out_through bigint, out_removed bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    part oid;
    bound text;
    low timestamptz;
    high timestamptz;
    horizon timestamptz;
    floor_days integer;
    chain_ids integer[];
    counts bigint[];
    lasts bigint[];
    c integer;
    through bigint;
    stragglers bigint;
    start_seq bigint;
    last_hash varchar;
    unsettled boolean;
BEGIN
    SELECT k.oid, pg_catalog.pg_get_expr(k.relpartbound, k.oid) INTO part, bound
      FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class k ON k.oid = i.inhrelid
     WHERE i.inhparent = '{schema}.audits_auditevent'::regclass AND k.relname = p_partition;
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
    -- Counted before the chain locks, which every append waits on: a partition wholly in the
    -- past gains no rows (received_at is the server's clock when a row is stored), and the
    -- check under the locks below refuses if it did. Per chain: its events here, its last.
    EXECUTE pg_catalog.format(
        'SELECT array_agg(e.chain ORDER BY e.chain), array_agg(e.n ORDER BY e.chain),'
        ' array_agg(e.last ORDER BY e.chain) FROM (SELECT chain, count(*) AS n,'
        ' max(seq) AS last FROM {schema}.%I GROUP BY chain) e', p_partition)
        INTO chain_ids, counts, lasts;
    -- Its events' location and organization links (derived data, outside the chain) go
    -- before the locks too, by the link tables' rows: there are far fewer of them.
    EXECUTE pg_catalog.format(
        'DELETE FROM {schema}.audits_auditeventlocation l USING {schema}.%I e'
        ' WHERE l.auditevent_id = e.id', p_partition);
    EXECUTE pg_catalog.format(
        'DELETE FROM {schema}.audits_auditeventorganization l USING {schema}.%I e'
        ' WHERE l.auditevent_id = e.id', p_partition);
    -- The table first, then the chain heads in id order: the order writers take them in (a
    -- linked append reads or sequences the table before it waits for its heads, in id
    -- order), so none can wait on another. From here to the caller's commit is
    -- milliseconds; the caller's short lock_timeout bounds the wait for the table.
    LOCK TABLE {schema}.audits_auditevent IN ACCESS EXCLUSIVE MODE;
    PERFORM 1 FROM {schema}.audits_auditchainhead h
        WHERE h.id = ANY (coalesce(chain_ids, '{}')) ORDER BY h.id FOR UPDATE;
    EXECUTE pg_catalog.format(
        'SELECT EXISTS (SELECT 1 FROM {schema}.%I e WHERE e.seq IS NULL'
        ' OR e.seq > coalesce(($2)[pg_catalog.array_position($1, e.chain)], -1))', p_partition)
        INTO unsettled USING chain_ids, lasts;
    IF unsettled THEN
        RAISE EXCEPTION 'partition % holds events not linked yet or stored since it was counted',
                        p_partition
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    FOR i IN 1 .. coalesce(pg_catalog.array_length(chain_ids, 1), 0) LOOP
        c := chain_ids[i];
        through := lasts[i];
        SELECT coalesce(max(cp.seq), 0) INTO start_seq FROM {schema}.audits_auditcheckpoint cp
            WHERE cp.chain = c;
        IF through <= start_seq THEN
            RAISE EXCEPTION 'partition % ends chain % at seq %, at or before its checkpoint at %',
                            p_partition, c, through, start_seq
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        -- The chain's events received just after the partition's end but linked before its
        -- last one here go with it, so that what is removed of each chain is its prefix.
        IF EXISTS (
            SELECT 1 FROM {schema}.audits_auditevent e
            WHERE e.chain = c AND e.seq > start_seq AND e.seq <= through
              AND e.received_at >= horizon AND (e.received_at < low OR e.received_at >= high)
        ) THEN
            RAISE EXCEPTION 'events linked before seq % of chain % were received within the '
                            'minimum retention of % days', through, c, floor_days
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        EXECUTE pg_catalog.format(
            'SELECT hash FROM {schema}.%I WHERE chain = $1 AND seq = $2', p_partition)
            INTO last_hash USING c, through;
        INSERT INTO {schema}.audits_expiry_grant (xact, chain, through_seq)
            VALUES (pg_catalog.pg_current_xact_id(), c, through);
        DELETE FROM {schema}.audits_auditeventlocation WHERE auditevent_id IN (
            SELECT e.id FROM {schema}.audits_auditevent e
            WHERE e.chain = c AND e.seq > start_seq AND e.seq <= through
              AND (e.received_at < low OR e.received_at >= high));
        DELETE FROM {schema}.audits_auditeventorganization WHERE auditevent_id IN (
            SELECT e.id FROM {schema}.audits_auditevent e
            WHERE e.chain = c AND e.seq > start_seq AND e.seq <= through
              AND (e.received_at < low OR e.received_at >= high));
        DELETE FROM {schema}.audits_auditevent e
            WHERE e.chain = c AND e.seq > start_seq AND e.seq <= through
              AND (e.received_at < low OR e.received_at >= high);
        GET DIAGNOSTICS stragglers = ROW_COUNT;
        DELETE FROM {schema}.audits_expiry_grant WHERE xact = pg_catalog.pg_current_xact_id();
        INSERT INTO {schema}.audits_auditcheckpoint (chain, seq, hash, removed_count, created_at)
            VALUES (c, through, last_hash, counts[i] + stragglers, pg_catalog.now());
        out_chain := c;
        out_through := through;
        out_removed := counts[i] + stragglers;
        RETURN NEXT;
    END LOOP;
    EXECUTE pg_catalog.format(
        'ALTER TABLE {schema}.audits_auditevent DETACH PARTITION {schema}.%I', p_partition);
    EXECUTE pg_catalog.format('DROP TABLE {schema}.%I', p_partition);
END;
$$;
REVOKE ALL ON FUNCTION audits_expire_partition(text) FROM PUBLIC;
"""


def install(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
        cursor.execute("SELECT to_regprocedure('audits_expire_partition(text)') IS NOT NULL")
        partitioned = cursor.fetchone()[0]
        for sql in (HEAD_TRIGGER, EVENT_TRIGGER, EXPIRE_THROUGH):
            cursor.execute(sql.replace("{schema}", schema))
        if partitioned:
            cursor.execute(EXPIRE_PARTITION.replace("{schema}", schema))


# Back to 0019's functions and 0012's triggers, before the columns they name go.
UNINSTALL = r"""
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
DROP TRIGGER IF EXISTS audits_auditchainhead_forward_only ON audits_auditchainhead;
CREATE TRIGGER audits_auditchainhead_forward_only
    BEFORE UPDATE OR DELETE ON audits_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION audits_auditchainhead_forward_only();
ALTER TABLE audits_auditchainhead ENABLE ALWAYS TRIGGER audits_auditchainhead_forward_only;

ALTER TABLE {schema}.audits_expiry_grant DROP CONSTRAINT audits_expiry_grant_pkey;
ALTER TABLE {schema}.audits_expiry_grant DROP COLUMN chain;
ALTER TABLE {schema}.audits_expiry_grant ADD PRIMARY KEY (xact);
CREATE OR REPLACE FUNCTION audits_expiry_allows(p_seq bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM {schema}.audits_expiry_grant
        WHERE xact = pg_catalog.pg_current_xact_id() AND p_seq <= through_seq
    )
$$;
"""

UNINSTALL_AFTER = """
DROP FUNCTION IF EXISTS audits_expiry_allows(integer, bigint);
DROP FUNCTION IF EXISTS audits_expire_through(integer, bigint);
DROP FUNCTION IF EXISTS audits_expire_partition(text);
"""


def uninstall(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    retention = import_module("audits.migrations.0012_retention_function_and_forward_head")
    partitioning = import_module("audits.migrations.0019_partition_events_by_received_time")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
        cursor.execute(UNINSTALL.replace("{schema}", schema))
        cursor.execute(retention.EVENT_TRIGGER.replace("{schema}", schema))
        cursor.execute(UNINSTALL_AFTER)
        cursor.execute(partitioning.FUNCTIONS.replace("{schema}", schema))


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0022_scope_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="chain",
            field=models.IntegerField(default=1, db_default=1, editable=False),
        ),
        migrations.RemoveIndex(model_name="auditevent", name="audit_seq_idx"),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["chain", "seq"], name="audit_chain_seq_idx"),
        ),
        migrations.AlterField(
            model_name="auditchainhead",
            name="id",
            field=models.PositiveIntegerField(editable=False, primary_key=True, serialize=False),
        ),
        migrations.AddField(
            model_name="auditchainhead",
            name="project",
            field=models.CharField(default="default", editable=False, max_length=64, unique=True),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditcheckpoint",
            name="chain",
            field=models.IntegerField(default=1, db_default=1),
        ),
        migrations.AlterField(
            model_name="auditcheckpoint",
            name="seq",
            field=models.BigIntegerField(),
        ),
        migrations.AlterModelOptions(name="auditcheckpoint", options={"ordering": ["chain", "-seq"]}),
        migrations.AddConstraint(
            model_name="auditcheckpoint",
            constraint=models.UniqueConstraint(
                fields=("chain", "seq"), name="audit_checkpoint_chain_seq"
            ),
        ),
        migrations.AlterField(
            model_name="auditcountwatermark",
            name="id",
            field=models.PositiveIntegerField(
                default=1, editable=False, primary_key=True, serialize=False
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
