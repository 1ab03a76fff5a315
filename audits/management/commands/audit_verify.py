from django.core.management.base import BaseCommand, CommandError

from audits.chain import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Link pending events, then walk the audit hash chain. Prints 'verified N events', or names the first broken "
        "link (the row edited, deleted or reordered) and exits with status 1."
    )

    def handle(self, *args, **options):
        result = audit_chain_verify()
        if not result.ok:
            raise CommandError(result.message)
        self.stdout.write(result.message)
        if result.pending:
            self.stdout.write(f"{result.pending} events stored during the walk are pending a link.")
