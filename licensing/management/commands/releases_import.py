from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audits.context import audit_context
from licensing.services.releases import ManifestError, releases_import


class Command(BaseCommand):
    help = (
        "Register releases from a manifest (JSON or YAML): {channel?, releases: [{sequence, "
        "version, release_notes?, release_date?, required?, channel?, hook?: {command, "
        "timeout_seconds?}}]}. Existing sequences are updated. All or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The release manifest.")

    def handle(self, *args, path, **options):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        with audit_context():
            try:
                created, updated = releases_import(data=data)
            except (ManifestError, UnicodeDecodeError) as exc:
                raise CommandError(f"Manifest rejected, nothing imported: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"Releases: {created} created, {updated} updated."))
