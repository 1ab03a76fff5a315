from django.core.management.commands.migrate import Command as DjangoMigrate

from integration_site.db_roles import migrate_connection_use


class Command(DjangoMigrate):
    help = (
        f"{DjangoMigrate.help} With DATABASE_MIGRATE_URL / DATABASE_MIGRATE_ROLE set, runs as "
        "the tables' owner rather than the site's role."
    )

    def handle(self, *args, **options):
        migrate_connection_use(alias=options["database"])
        return super().handle(*args, **options)
