"""
The event table's index set chosen by measurement (issue 18 §2; bench/audit_search.py on 1M
and 10M events, docs/benchmarks.md "Audit storage at scale").

PostgreSQL only (RunPython, a no-op on SQLite, where search stays correct, just unindexed):
- the seven per-column trigram GIN indexes of migration 0006 become ONE over the search
  document, `UPPER(action || ' ' || name || ... || audited_changes::text)`
  (audits.search.document): an insert maintains one GIN index instead of seven, and the
  search compilers add the document condition the index serves beside each `~`;
- migration 0006's (actor_name, action, created_at DESC) gives way to the model's
  (actor_name, created_at DESC, id DESC), which also serves the newest-first page;
- the BRIN on created_at goes: no plan used it (ranges take the (created_at, id) B-tree,
  which also orders them).

Model state (both databases): the equality filters users type most (action, user, target,
group) each get a B-tree that ends in (created_at DESC, id DESC), the list's order, so a
search for a value walks only that value's rows, newest first, and a value nobody has
(`user = nobody`) is answered from the index at once instead of walking the whole table in
time order. (action, ...) replaces the plain (action) index. Two of migration 0015's
Retraced indexes merge into the model's: (actor_id, created_at DESC, id DESC, project,
environment) serves Foreman's `actor_id = x` and Retraced's `actor.id:x` (replacing
(actor_type, actor_id) and audit_rt_actor), and crud joins the tenant group index's key
(replacing audit_rt_group_crud): each B-tree costs every insert about as much as the next.
A record's audits (a host's) are read newest first from (target_type, target_id, created_at
DESC, id DESC, version), which still gives the next version from the index alone; the user
index carries the action too, for "user + action + time".

Not CONCURRENTLY: the event table is partitioned (0019), where PostgreSQL builds an index on
the parent only in one piece, on every partition (and clones it onto each future one). On a large existing trail the GIN build holds writes for
minutes (about a minute per million events on the bench machine); run the migration in a
maintenance window there.
"""

from django.db import migrations, models

DOCUMENT_INDEX = "audit_search_doc_trgm"
# audits.search.document.SearchDocument, as SQL: the same expression, column for column, or
# the planner cannot use the index (test_document.py checks the two agree).
DOCUMENT_SQL = (
    "action || ' ' || name || ' ' || description || ' ' || actor_name || ' ' || "
    "target_type || ' ' || target_name || ' ' || comment || ' ' || (audited_changes)::text"
)
CREATE_DOCUMENT_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {DOCUMENT_INDEX} ON audits_auditevent "
    f"USING gin (UPPER(({DOCUMENT_SQL})) gin_trgm_ops)"
)

# Migration 0006's indexes this one drops, as 0006 created them (restored on reverse).
_TRIGRAM_COLUMNS = {
    "name": "name",
    "description": "description",
    "actor_name": "actor_name",
    "target_name": "target_name",
    "action": "action",
    "comment": "comment",
    "changes": "(audited_changes)",
}
DROPPED = [
    *(
        (
            f"audit_{name}_trgm",
            f"CREATE INDEX IF NOT EXISTS audit_{name}_trgm ON audits_auditevent "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)",
        )
        for name, column in _TRIGRAM_COLUMNS.items()
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
    # Migration 0015's, now served by the model's actor id and tenant group indexes.
    (
        "audit_rt_actor",
        "CREATE INDEX IF NOT EXISTS audit_rt_actor ON audits_auditevent "
        "(project, environment, actor_id, created_at, id)",
    ),
    (
        "audit_rt_group_crud",
        "CREATE INDEX IF NOT EXISTS audit_rt_group_crud ON audits_auditevent "
        "(project, environment, group_id, crud)",
    ),
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(CREATE_DOCUMENT_INDEX)
    for name, _ in DROPPED:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _, sql in DROPPED:
        schema_editor.execute(sql)
    schema_editor.execute(f"DROP INDEX IF EXISTS {DOCUMENT_INDEX}")


def _newest_first(column: str, name: str, *then: str) -> models.Index:
    return models.Index(fields=[column, "-created_at", "-id", *then], name=name)


class Migration(migrations.Migration):
    dependencies = [("audits", "0019_partition_events_by_received_time")]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.RemoveIndex(model_name="auditevent", name="audit_action_idx"),
        migrations.AddIndex(
            model_name="auditevent", index=_newest_first("action", "audit_action_time_idx")
        ),
        migrations.AddIndex(
            model_name="auditevent", index=_newest_first("actor_name", "audit_actor_time_idx", "actor_type", "action")
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=_newest_first("target_name", "audit_target_name_time_idx", "target_type"),
        ),
        migrations.AddIndex(
            model_name="auditevent", index=_newest_first("group_name", "audit_group_time_idx")
        ),
        migrations.RemoveIndex(model_name="auditevent", name="audit_actor_idx"),
        migrations.AddIndex(
            model_name="auditevent",
            index=_newest_first(
                "actor_id", "audit_actor_id_time_idx", "project", "environment"
            ),
        ),
        migrations.RemoveIndex(model_name="auditevent", name="audit_target_idx"),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["target_type", "target_id", "-created_at", "-id", "version"],
                name="audit_target_idx",
            ),
        ),
        migrations.RemoveIndex(model_name="auditevent", name="audit_tenant_group_idx"),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                fields=["project", "environment", "group_id", "-created_at", "-id", "crud"],
                name="audit_tenant_group_idx",
            ),
        ),
    ]
