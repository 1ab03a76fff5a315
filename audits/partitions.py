"""
The event table's partitions (PostgreSQL; migration 0019): one per AUDIT_PARTITION_INTERVAL
of `received_at` (year, quarter, month, week or day, in UTC), created ahead of time by the worker
(`audit_partitions_ensure`, hourly), and a DEFAULT partition that catches what no partition
covers, so an insert never fails for want of one. Retention drops whole partitions
(audits.services.audit_events_expire). On SQLite the table is a plain one and every function
here answers as if there were nothing to do.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from audits.models import AuditEvent

PARTITION_INTERVALS = ("year", "quarter", "month", "week", "day")
# Intervals measured in whole months, by length.
_MONTHS = {"year": 12, "quarter": 3, "month": 1}
DEFAULT_PARTITION = f"{AuditEvent._meta.db_table}_default"
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime
    end: datetime


def interval_start(moment: datetime, interval: str) -> datetime:
    """The start (UTC midnight) of the interval holding `moment`: quarters start in January,
    April, July and October, weeks on Monday."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if interval in _MONTHS:
        months = _MONTHS[interval]
        return day.replace(month=(day.month - 1) // months * months + 1, day=1)
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "day":
        return day
    raise ValueError(f"AUDIT_PARTITION_INTERVAL must be one of {', '.join(PARTITION_INTERVALS)}")


def interval_next(start: datetime, interval: str) -> datetime:
    """The start of the interval after the one beginning at `start`."""
    if interval in _MONTHS:
        month = start.month - 1 + _MONTHS[interval]
        return start.replace(year=start.year + month // 12, month=month % 12 + 1, day=1)
    return start + timedelta(days=7 if interval == "week" else 1)


def partition_ranges(
    *, oldest: datetime | None, interval: str, premake: int, now: datetime | None = None
) -> list[tuple[datetime, datetime]]:
    """
    [start, end) of each interval from the one holding `oldest` (or now) through `premake`
    intervals after the current one.
    """
    now = now or timezone.now()
    start = interval_start(min(oldest or now, now), interval)
    last = interval_start(now, interval)
    for _ in range(premake):
        last = interval_next(last, interval)
    ranges = []
    while start <= last:
        end = interval_next(start, interval)
        ranges.append((start, end))
        start = end
    return ranges


def audit_events_partitioned() -> bool:
    """Whether the event table is a partitioned table (PostgreSQL after migration 0019)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(%s)",
            [AuditEvent._meta.db_table],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def audit_partitions() -> list[Partition]:
    """The range partitions, oldest first (not the DEFAULT one); [] when not partitioned."""
    if not audit_events_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
            [AuditEvent._meta.db_table],
        )
        rows = cursor.fetchall()
    partitions = []
    for name, bound in rows:
        if match := _BOUNDS.search(bound):
            start, end = (datetime.fromisoformat(value) for value in match.groups())
            partitions.append(Partition(name, start.astimezone(UTC), end.astimezone(UTC)))
    return sorted(partitions, key=lambda p: p.start)


def audit_default_partition_rows(*, before: datetime | None = None) -> int:
    """How many events the DEFAULT partition holds (received before `before`, if given)."""
    if not audit_events_partitioned():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {connection.ops.quote_name(DEFAULT_PARTITION)}"
            " WHERE %s::timestamptz IS NULL OR received_at < %s",
            [before, before],
        )
        return cursor.fetchone()[0]


def audit_partitions_ensure(
    *, since: datetime | None = None, through: datetime | None = None
) -> list[str]:
    """
    Create the partitions missing between `since` (default now) and `through` (default
    AUDIT_PARTITION_PREMAKE intervals after the current one), each one AUDIT_PARTITION_INTERVAL
    long, cut short where an existing partition begins (the interval may have been changed
    since). Events the DEFAULT partition holds for a new partition's range move into it.
    Returns the names created. Runs as the site's role through the SECURITY DEFINER function
    `audits_partition_create`.
    """
    if not audit_events_partitioned():
        return []
    interval = settings.AUDIT_PARTITION_INTERVAL
    now = timezone.now()
    if through is None:
        wanted = partition_ranges(
            oldest=since or now,
            interval=interval,
            premake=settings.AUDIT_PARTITION_PREMAKE,
            now=now,
        )
    else:
        start = interval_start(min(since or through, through), interval)
        wanted = [(start, interval_next(start, interval))]
        while wanted[-1][1] <= through:
            wanted.append((wanted[-1][1], interval_next(wanted[-1][1], interval)))
    existing = audit_partitions()
    created = []
    cursor_at = wanted[0][0]
    for _, end in wanted:
        while cursor_at < end:
            holding = next((p for p in existing if p.start <= cursor_at < p.end), None)
            if holding:
                cursor_at = holding.end
                continue
            following = min((p.start for p in existing if p.start > cursor_at), default=end)
            stop = min(end, following)
            with connection.cursor() as cursor:
                cursor.execute("SELECT audits_partition_create(%s, %s)", [cursor_at, stop])
                name = cursor.fetchone()[0]
            if name:
                created.append(name)
                existing.append(Partition(name, cursor_at, stop))
            cursor_at = stop
    return created


def audit_partition_sizes() -> list[tuple[Partition, int]]:
    """Each range partition with PostgreSQL's estimate of its rows (as of its last ANALYZE)."""
    partitions = audit_partitions()
    if not partitions:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, greatest(reltuples, 0)::bigint FROM pg_class WHERE relname = ANY(%s)",
            [[p.name for p in partitions]],
        )
        estimates = dict(cursor.fetchall())
    return [(p, estimates.get(p.name, 0)) for p in partitions]
