"""
PostgreSQL-only search indexes for the scoped-search language (issue 4). Not model-state
indexes: they need pg_trgm and expressions SQLite lacks; on SQLite this is a no-op and search
stays correct, just unindexed.

- pg_trgm GIN on UPPER(col::text): Django's `~` (icontains) compiles to
  UPPER(col::text) LIKE UPPER(%s), so these serve `~` and free text (a BitmapOr over them).
- BRIN on created_at: tiny, for wide time ranges on an append-mostly table (the B-tree on
  created_at still serves ORDER BY ... LIMIT).
- B-tree (actor_name, action, created_at DESC) for "user + action + time".
"""

from django.db import migrations

TRIGRAM_COLUMNS = ["name", "description", "actor_name", "target_name", "action", "comment"]

INDEXES = [
    *(
        (
            f"audit_{column}_trgm",
            f"CREATE INDEX IF NOT EXISTS audit_{column}_trgm ON audits_auditevent "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)",
        )
        for column in TRIGRAM_COLUMNS
    ),
    (
        "audit_changes_trgm",
        "CREATE INDEX IF NOT EXISTS audit_changes_trgm ON audits_auditevent "
        "USING gin (UPPER((audited_changes)::text) gin_trgm_ops)",
    ),
    (
        "audit_created_brin",
        "CREATE INDEX IF NOT EXISTS audit_created_brin ON audits_auditevent USING brin (created_at)",
    ),
    (
        "audit_actor_action_time",
        "CREATE INDEX IF NOT EXISTS audit_actor_action_time ON audits_auditevent "
        "(actor_name, action, created_at DESC)",
    ),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for _, sql in INDEXES:
        schema_editor.execute(sql)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("audits", "0005_foreman_hosts_and_taxonomies")]

    operations = [migrations.RunPython(create, drop)]
