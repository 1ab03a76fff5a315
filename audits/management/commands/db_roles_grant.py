from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from audits.db_roles import db_roles_grant
from integration_site.db_roles import migrate_connection_use


class Command(BaseCommand):
    help = (
        "PostgreSQL: give the site's role exactly the privileges it needs (INSERT and SELECT "
        "on the audit trail, what linking pending events needs, EXECUTE on the retention "
        "function, full DML elsewhere). Run as the tables' owner (DATABASE_MIGRATE_URL / "
        "DATABASE_MIGRATE_ROLE) after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site-role", required=True, help="The role DATABASE_URL logs in as.")

    def handle(self, *args, site_role: str, **options):
        migrate_connection_use()
        if connection.vendor != "postgresql":
            raise CommandError("db_roles_grant is for PostgreSQL; SQLite has no roles.")
        try:
            statements = db_roles_grant(site_role=site_role)
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
        for statement in statements:
            self.stdout.write(f"{statement};")
