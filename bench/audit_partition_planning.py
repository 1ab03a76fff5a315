"""
What each partition of the audit trail costs every search (issue 18): PostgreSQL plans a
query over every partition it cannot prune, and a search that names no received time prunes
none. This times the planning of the searches /api/audits runs (the page, the bounded count,
the planner's estimate), with the partitions the database holds, then with --add more empty
monthly partitions made by `audits_partition_create` (older months, as years of retention
would leave), all inside one transaction that is rolled back: nothing stays.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_idx_1m DJANGO_SECRET_KEY=x \\
        .venv/bin/python -u bench/audit_partition_planning.py --add 24,48

Any migrated database will do (the bench_idx_* ones of bench/audit_search.py have the rows and
statistics); planning time hardly depends on the rows. The same run's baseline is the
database's own partition count: the figures are per added partition.
"""

import argparse
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kit import django_setup, percentile

django_setup()

from django.db import connection, transaction  # noqa: E402

from audits.partitions import audit_partitions  # noqa: E402

# The statements one /api/audits search plans, by kind (the search document is migration
# 0020's expression; any indexed condition plans alike).
SEARCHES = {
    "page, user = x": (
        "SELECT id FROM audits_auditevent WHERE actor_name = 'user450'"
        " ORDER BY created_at DESC, id DESC LIMIT 20"
    ),
    "count, user = x": (
        "SELECT count(*) FROM (SELECT id FROM audits_auditevent"
        " WHERE actor_name = 'user450' LIMIT 10001) AS bounded"
    ),
    "count, description ~ x": (
        "SELECT count(*) FROM (SELECT id FROM audits_auditevent"
        " WHERE upper(description) LIKE '%FIREWALL%' LIMIT 10001) AS bounded"
    ),
    "page, one received day": (
        "SELECT id FROM audits_auditevent WHERE received_at >= '2024-06-01'"
        " AND received_at < '2024-06-02' ORDER BY created_at DESC, id DESC LIMIT 20"
    ),
}


def planning_ms(sql: str, repeat: int) -> float:
    """Median planning time of `sql` in ms, after one warming plan (relation caches)."""
    samples = []
    with connection.cursor() as cursor:
        for _ in range(repeat + 1):
            cursor.execute(f"EXPLAIN (SUMMARY, FORMAT JSON) {sql}")
            samples.append(float(cursor.fetchone()[0][0]["Planning Time"]))
    return percentile(samples[1:], 0.5)


def partition_count() -> int:
    """The event table's partitions, the DEFAULT one included (it is planned too)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audits_auditevent'::regclass"
        )
        return cursor.fetchone()[0]


def months_before(start: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """`count` monthly ranges ending at `start`, newest first."""
    ranges, end = [], start
    for _ in range(count):
        begin = (
            end.replace(year=end.year - 1, month=12)
            if end.month == 1
            else end.replace(month=end.month - 1)
        )
        ranges.append((begin, end))
        end = begin
    return ranges


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--add", default="24,48", help="partitions to add, cumulative steps")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/audit_partition_planning.py needs DATABASE_URL=postgres://...")
    steps = sorted(int(step) for step in args.add.split(","))
    with transaction.atomic():
        oldest = audit_partitions()[0].start.replace(day=1, hour=0, minute=0, second=0)
        extra = months_before(oldest, steps[-1])
        counts, rows = [partition_count()], {label: [] for label in SEARCHES}
        for label, sql in SEARCHES.items():
            rows[label].append(planning_ms(sql, args.repeat))
        made = 0
        for step in steps:
            with connection.cursor() as cursor:
                for begin, end in extra[made:step]:
                    cursor.execute("SELECT audits_partition_create(%s, %s)", [begin, end])
            made = step
            counts.append(partition_count())
            for label, sql in SEARCHES.items():
                rows[label].append(planning_ms(sql, args.repeat))
        transaction.set_rollback(True)
    print(f"planning time, median of {args.repeat} (ms), by partitions in the table")
    print(f"{'statement':26}" + "".join(f"{count:>10}" for count in counts) + "  ms/partition")
    for label, times in rows.items():
        slope = (times[-1] - times[0]) / (counts[-1] - counts[0])
        print(f"{label:26}" + "".join(f"{ms:10.2f}" for ms in times) + f"  {slope:11.3f}")


if __name__ == "__main__":
    main()
