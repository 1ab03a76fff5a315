"""
What the site's database role may do to each table (PostgreSQL), applied by `manage.py
db_roles_grant` as the tables' owner, and what `check --deploy` looks for
(`database_role_problems`). The site role owns nothing; on every table it gets SELECT,
INSERT, UPDATE and DELETE, except:

- the audit trail's tables: events INSERT and SELECT, and UPDATE of (seq, prev_hash, hash)
  only, which linking a pending event needs (the trigger allows no other UPDATE); the chain
  heads SELECT, INSERT (a project's first event makes its chain; the trigger allows only an
  empty one) and UPDATE of (last_seq, last_hash) (the trigger allows only a forward move);
  checkpoints and the retention floor SELECT; the taxonomy links INSERT and SELECT; the
  expiry grant table nothing;
- `django_migrations`: SELECT (only `migrate`, as the owner, records migrations);

and EXECUTE on the retention functions (`audits_expire_through`, `audits_expire_partition`)
and on `audits_partition_create`, by which the worker makes partitions ahead. The event
table's partitions get nothing: the site reaches them only through the partitioned table.
"""

from django.db import connection

from audits.models import (
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
    AuditEventLocation,
    AuditEventOrganization,
)
from integration_site.db_roles import role_name_validate

AUDIT_TABLES = (
    AuditEvent._meta.db_table,
    AuditChainHead._meta.db_table,
    AuditCheckpoint._meta.db_table,
    "audits_retention_floor",
    "audits_expiry_grant",
)

# Table -> the privileges the site role gets on it; tables not listed get SELECT, INSERT,
# UPDATE, DELETE.
SITE_PRIVILEGES = {
    AuditEvent._meta.db_table: "SELECT, INSERT, UPDATE (seq, prev_hash, hash)",
    AuditChainHead._meta.db_table: "SELECT, INSERT, UPDATE (last_seq, last_hash)",
    AuditCheckpoint._meta.db_table: "SELECT",
    AuditEventLocation._meta.db_table: "SELECT, INSERT",
    AuditEventOrganization._meta.db_table: "SELECT, INSERT",
    "audits_retention_floor": "SELECT",
    "audits_expiry_grant": None,
    "django_migrations": "SELECT",
}
DEFAULT_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def db_roles_grant(*, site_role: str) -> list[str]:
    """
    Give `site_role` exactly the privileges above on every table of the current schema
    (revoking whatever else it held), USAGE on the schema and its sequences, and EXECUTE on
    the retention function. Run as the owner after each `migrate`; returns the statements.
    """
    role = connection.ops.quote_name(role_name_validate(site_role))
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = connection.ops.quote_name(cursor.fetchone()[0])
        # Not the event table's partitions: the site reaches events only through the
        # partitioned table, whose privileges and triggers apply to every partition.
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
            " AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1"
        )
        tables = [name for (name,) in cursor.fetchall()]
        cursor.execute("SELECT to_regprocedure('audits_expire_partition(text)') IS NOT NULL")
        partitioned = cursor.fetchone()[0]
    statements = [
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
    ]
    for table in tables:
        privileges = SITE_PRIVILEGES.get(table, DEFAULT_PRIVILEGES)
        if privileges:
            statements.append(f"GRANT {privileges} ON {connection.ops.quote_name(table)} TO {role}")
    statements += [
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        f"GRANT EXECUTE ON FUNCTION {schema}.audits_expire_through(integer, bigint) TO {role}",
    ]
    if partitioned:
        statements += [
            f"GRANT EXECUTE ON FUNCTION {schema}.audits_expire_partition(text) TO {role}",
            f"GRANT EXECUTE ON FUNCTION {schema}.audits_partition_create(timestamptz, timestamptz)"
            f" TO {role}",
        ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return statements


def database_role_problems(cursor) -> list[str]:
    """
    Why the connection's role (session and current) could undo the trail: it is a superuser,
    or it owns an audit table or is a member of the role that does (so it can SET ROLE to
    it). [] for a proper site role.
    """
    cursor.execute(
        "SELECT r.rolname FROM pg_roles r"
        " WHERE r.rolname IN (session_user, current_user) AND r.rolsuper ORDER BY 1"
    )
    problems = [f"uses the superuser role {name}" for (name,) in cursor.fetchall()]
    cursor.execute(
        "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c"
        " WHERE c.relname = ANY(%s) AND c.relnamespace = current_schema()::regnamespace"
        " AND (pg_has_role(session_user, c.relowner, 'MEMBER')"
        " OR pg_has_role(current_user, c.relowner, 'MEMBER'))"
        " ORDER BY 1",
        [list(AUDIT_TABLES)],
    )
    owned = cursor.fetchall()
    if owned and not problems:  # a superuser is a member of every role; said once
        owners = sorted({owner for _, owner in owned})
        problems.append(
            f"owns the audit tables {', '.join(t for t, _ in owned)} (owner "
            f"{', '.join(owners)}, which its role is or may SET ROLE to)"
        )
    return problems
