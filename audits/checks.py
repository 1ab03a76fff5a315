"""System checks of the audit trail (`manage.py check --deploy`)."""

from django.core.checks import Tags, Warning, register
from django.db import DatabaseError, connection

from audits.db_roles import AUDIT_TABLES, database_role_problems


@register(Tags.security, deploy=True)
def database_role_check(app_configs, **kwargs):
    """
    The append-only triggers, the retention function and the forward-only head hold only
    against a role that is neither a superuser nor the tables' owner (nor a member of it).
    Not tagged `database`: Django runs those only on request, and this must run in every
    `check --deploy`.
    """
    if connection.vendor != "postgresql":
        return []
    hint = (
        "Connect the site as a role that owns nothing (README, Production database roles): "
        "run migrations as the owner with DATABASE_MIGRATE_URL / DATABASE_MIGRATE_ROLE and "
        "apply the site role's grants with manage.py db_roles_grant --site-role ROLE."
    )
    try:
        with connection.cursor() as cursor:
            problems = database_role_problems(cursor)
    except DatabaseError as error:
        problems = [f"its role could not be inspected ({error.__class__.__name__}: {error})"]
    return [
        Warning(
            f"The site's database connection {problem}: it can disable or bypass the audit "
            f"trail's append-only protection ({', '.join(AUDIT_TABLES)}).",
            hint=hint,
            id="audits.W001",
        )
        for problem in problems
    ]
