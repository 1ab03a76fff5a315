from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audits.context import audit_context
from monitoring.definitions import CONFIG_FILE_MAX_BYTES, sensu_config_import, sensu_config_read


class Command(BaseCommand):
    help = (
        "Load a Sensu 1.x configuration directory (/etc/sensu/conf.d): every *.json file at any "
        "depth, merged as Sensu merges them; its checks, handlers, filters and mutators are "
        "created or updated in one transaction. Other settings are skipped with the reason. "
        "Idempotent: a second run reports everything unchanged and audits nothing. Exits 1 "
        "if a file or definition had to be left out (the valid rest is imported)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "directory", help="The configuration directory, e.g. /etc/sensu/conf.d."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; write nothing."
        )

    def handle(self, *args, directory, dry_run, **options):
        root = Path(directory)
        if not root.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        read = sensu_config_read(root)
        self.stdout.write(
            f"Read {len(read.files)} file(s) from {directory} "
            f"(files over {CONFIG_FILE_MAX_BYTES // 1024} KiB are skipped)."
        )
        for problem in read.problems:
            self.stdout.write(self.style.ERROR(f"file      {problem}"))
        with audit_context():
            lines = sensu_config_import(read.settings, dry_run=dry_run)
        styles = {"invalid": self.style.ERROR, "skipped": self.style.WARNING}
        for line in lines:
            self.stdout.write(styles.get(line.outcome, str)(str(line)))
        counts = Counter(line.outcome for line in lines)
        summary = ", ".join(
            f"{counts[outcome]} {outcome}"
            for outcome in ("created", "updated", "unchanged", "skipped", "invalid")
        )
        prefix = "Dry run, nothing written: " if dry_run else ""
        if not counts["created"] and not counts["updated"] and not dry_run:
            summary += ". Nothing changed"
        self.stdout.write(f"{prefix}{summary}.")
        problems = len(read.problems) + counts["invalid"]
        if problems:
            raise CommandError(
                f"{problems} file(s) or definition(s) left out (see above); "
                + ("the rest would be imported." if dry_run else "the rest was imported.")
            )
