from django.core.management.base import BaseCommand

from audits.partitions import (
    DEFAULT_PARTITION,
    audit_default_partition_rows,
    audit_events_partitioned,
    audit_partition_sizes,
    audit_partitions_ensure,
)


class Command(BaseCommand):
    help = (
        "List the audit event table's partitions (PostgreSQL) with their ranges and estimated "
        "rows; --ensure first creates the ones the worker would (AUDIT_PARTITION_PREMAKE ahead)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--ensure", action="store_true", help="Create the partitions due now, then list."
        )

    def handle(self, *args, ensure: bool, **options):
        if not audit_events_partitioned():
            self.stdout.write("The audit event table is not partitioned (SQLite keeps one table).")
            return
        if ensure:
            for name in audit_partitions_ensure():
                self.stdout.write(f"created {name}")
        for partition, rows in audit_partition_sizes():
            self.stdout.write(
                f"{partition.name}  {partition.start:%Y-%m-%d} .. {partition.end:%Y-%m-%d}"
                f"  ~{rows:,} events"
            )
        stray = audit_default_partition_rows()
        self.stdout.write(f"{DEFAULT_PARTITION}  (no range)  {stray:,} events")
        if stray:
            self.stderr.write(
                "Events no partition covers are in the DEFAULT partition: is the worker "
                "running? `--ensure` makes their partitions and moves them there."
            )
