from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audits.context import audit_context
from licensing.license_files import LicenseFileError
from licensing.services.license import license_install


class Command(BaseCommand):
    help = (
        "Verify a signed license file (JSON or YAML) against LICENSE_VENDOR_PUBLIC_KEYS and "
        "install it. A rejected file leaves the running license in place."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The signed license file.")

    def handle(self, *args, path, **options):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        with audit_context():
            try:
                license = license_install(data=data, source="file (license_install)")
            except LicenseFileError as exc:
                raise CommandError(
                    f"License rejected: {exc} The running license is unchanged."
                ) from exc
        expires = license.expiration_time.isoformat() if license.expiration_time else "never"
        self.stdout.write(
            self.style.SUCCESS(
                f"Installed license {license.license_id} for {license.assignee or '-'} "
                f"({license.license_type}, channel {license.release_channel}, expires {expires}, "
                f"{license.fields.count()} fields)."
            )
        )
