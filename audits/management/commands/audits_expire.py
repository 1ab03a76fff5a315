from django.core.management.base import BaseCommand, CommandError

from audits.context import audit_context
from audits.services import audit_events_expire


class Command(BaseCommand):
    help = (
        "Delete audit events received more than --days days ago: the one sanctioned deletion "
        "(Foreman's audits:expire). Writes a chain checkpoint so audit_verify still passes, "
        "and records the expiry itself as an audit event."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, required=True, help="Keep this many days.")

    def handle(self, *args, days: int, **options):
        if days < 1:
            raise CommandError("--days must be at least 1.")
        try:
            with audit_context():
                result = audit_events_expire(days=days)
        except ValueError as error:  # below the minimum retention
            raise CommandError(f"--{error}.") from error
        self.stdout.write(
            f"Removed {result.removed} audit events received before "
            f"{result.cutoff:%Y-%m-%d %H:%M:%S} UTC; chain checkpoint at seq {result.through_seq}."
        )
