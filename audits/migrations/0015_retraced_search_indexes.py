"""
PostgreSQL-only indexes for Retraced's search (audits/retraced/search.py), measured by
bench/retraced_graphql.py on 1M events (docs/benchmarks.md). Not model-state indexes: the
`text_pattern_ops` class is PostgreSQL's; on SQLite this is a no-op and search stays correct.

Every Retraced search filters on (project, environment) first, and retraced-js and the logs
viewer ask for `totalCount`, an exact COUNT(*) of the match: these lead with the tenancy and
carry the searched column, so the count is an index-only scan, and the page (newest first by
created_at, id) reads its 21 rows in index order.

- action: `text_pattern_ops` also serves `action:user.*` (LIKE 'user.%' under any collation).
- actor.id, target.id: exact ids.
- received ranges: the page sorts the range's (created_at, id) from the index alone.
- the viewer's default (its group, reads hidden): the count by group and crud.
"""

from django.db import migrations

TENANCY = "project, environment"
INDEXES = [
    ("audit_rt_action", f"{TENANCY}, action text_pattern_ops, created_at, id"),
    ("audit_rt_actor", f"{TENANCY}, actor_id, created_at, id"),
    ("audit_rt_target", f"{TENANCY}, target_id, created_at, id"),
    ("audit_rt_received", f"{TENANCY}, received_at, created_at, id"),
    ("audit_rt_group_crud", f"{TENANCY}, group_id, crud"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON audits_auditevent ({columns})"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("audits", "0013_retraced_tenancy")]

    operations = [migrations.RunPython(create, drop)]
