"""
Event counts kept cheap at millions of events: hourly by source (the dashboard's audit charts)
and per Retraced scope and crud (the logs viewer's opening `totalCount`).

A worker job rolls up the events linked since each chain's watermark (`seq > watermark`) into
`AuditEventHourlyCount` rows, grouped by the hour of `created_at` and source, and into
`AuditScopeCount` rows, grouped by project, environment, group and crud, and moves the
watermark in the same transaction. `seq` is the chain position, assigned gapless in commit
order under the chain's head lock, so every linked event is counted exactly once however late
it arrived or whatever `created_at` it carries. The dashboard adds the counter rows to a
live count of the tail the job has not reached yet (`seq > watermark OR seq IS NULL`), read
in the same statement as the counters so a roll-up committing meanwhile cannot count an
event twice or not at all; so does `audit_scope_count`.

Retention (`audit_events_expire`) deletes a prefix of the chain: `audit_counts_expire`
subtracts the deleted events that were already counted, in the deletion's transaction, so
the counters always describe the events the audit list still holds. A dropped partition's
events are counted before the chain lock is taken (`audit_counts_of`) and subtracted under
it (`audit_counts_subtract`): counting a month of events takes seconds.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DateTimeField,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDay, TruncHour

from audits.chain import chain_ids
from audits.models import (
    DEFAULT_CHAIN,
    AuditChainHead,
    AuditCountWatermark,
    AuditEvent,
    AuditEventHourlyCount,
    AuditScopeCount,
    AuditSource,
)

# Events rolled up per transaction: a first run over an existing trail of millions moves in
# steps that each hold the watermark lock briefly.
ROLL_UP_BATCH = 100_000


def _watermark_locked(chain: int) -> AuditCountWatermark:
    """The chain's watermark, locked; and first the default chain's, which is also the lock of
    the counter rows: every chain's events add to the same rows (read, then written)."""
    if chain != DEFAULT_CHAIN:
        _watermark_row_locked(DEFAULT_CHAIN)
    return _watermark_row_locked(chain)


def _watermark_row_locked(chain: int) -> AuditCountWatermark:
    mark = AuditCountWatermark.objects.select_for_update().filter(pk=chain).first()
    if mark is None:
        # A chain's row is made by its first roll-up (a flushed test database lacks even the
        # default chain's); get_or_create settles two workers racing to make it.
        AuditCountWatermark.objects.get_or_create(pk=chain)
        mark = AuditCountWatermark.objects.select_for_update().get(pk=chain)
    return mark


def _tail(chains: list[int]) -> Q:
    """
    The events the counters do not hold yet: pending, or after their chain's watermark,
    read in the statement that uses it (a roll-up committing meanwhile is seen entirely or
    not at all). `chains` are the chains to look in, read just before: a project's first
    events stored in between are counted from the next read on. Each chain's watermark read
    now is a floor of the one the statement sees (it only moves forward): redundant to the
    result, but a literal the planner estimates from the `(chain, seq)` index, where the
    subquery alone is guessed at a third of the table (and JIT-compiled for it).
    """
    floors = dict(AuditCountWatermark.objects.filter(pk__in=chains).values_list("pk", "seq"))
    tail = Q(seq__isnull=True)
    for chain in chains:
        mark = AuditCountWatermark.objects.filter(pk=chain).values("seq")
        tail |= Q(
            Q(seq__gt=Coalesce(Subquery(mark), Value(0), output_field=BigIntegerField())),
            chain=chain,
            seq__gt=floors.get(chain, 0),
        )
    return tail


@dataclass
class EventCounts:
    """Counts of some events: per (hour, source) and per (project, environment, group, crud)."""

    hourly: Counter = field(default_factory=Counter)
    scopes: Counter = field(default_factory=Counter)

    def __add__(self, other: "EventCounts") -> "EventCounts":
        return EventCounts(self.hourly + other.hourly, self.scopes + other.scopes)

    def total(self) -> int:
        return self.hourly.total()


def _event_counts(events) -> EventCounts:
    hourly = (
        events.order_by()
        .annotate(hour=TruncHour("created_at", tzinfo=UTC))
        .values("hour", "source")
        .annotate(n=Count("id"))
    )
    scopes = (
        events.order_by()
        .values("project", "environment", "group_id", "crud")
        .annotate(n=Count("id"))
    )
    return EventCounts(
        Counter({(row["hour"], row["source"]): row["n"] for row in hourly}),
        Counter(
            {
                (row["project"], row["environment"], row["group_id"], row["crud"]): row["n"]
                for row in scopes
            }
        ),
    )


def _counts_add(counts: EventCounts, *, sign: int) -> None:
    """Add (or subtract) `counts` to the counter rows; the caller holds the watermark lock."""
    # Only the writer holding the watermark lock changes counts, so read-then-write is safe;
    # each upsert writes every total with one statement, however many hours or scopes a
    # batch touches (late events spread over a month, a project's thousand groups).
    if counts.hourly:
        totals = dict.fromkeys(counts.hourly, 0)
        for row in AuditEventHourlyCount.objects.filter(
            hour__in={hour for hour, _ in counts.hourly}
        ):
            if (row.hour, row.source) in totals:
                totals[(row.hour, row.source)] = row.count
        AuditEventHourlyCount.objects.bulk_create(
            [
                AuditEventHourlyCount(
                    hour=hour, source=source, count=total + sign * counts.hourly[(hour, source)]
                )
                for (hour, source), total in totals.items()
            ],
            update_conflicts=True,
            unique_fields=["hour", "source"],
            update_fields=["count"],
            batch_size=1000,
        )
    if counts.scopes:
        totals = dict.fromkeys(counts.scopes, 0)
        for row in AuditScopeCount.objects.filter(
            group_id__in={key[2] for key in counts.scopes}
        ).values_list("project", "environment", "group_id", "crud", "count"):
            if row[:4] in totals:
                totals[row[:4]] = row[4]
        AuditScopeCount.objects.bulk_create(
            [
                AuditScopeCount(
                    project=project,
                    environment=environment,
                    group_id=group_id,
                    crud=crud,
                    count=total + sign * counts.scopes[(project, environment, group_id, crud)],
                )
                for (project, environment, group_id, crud), total in totals.items()
            ],
            update_conflicts=True,
            unique_fields=["project", "environment", "group_id", "crud"],
            update_fields=["count"],
            batch_size=1000,
        )


def audit_counts_roll_up(*, batch_size: int = ROLL_UP_BATCH) -> int:
    """
    Count the linked events after each chain's watermark into the counters, `batch_size`
    chain positions per transaction, until the chain's head; returns how many events were
    counted. Running it again (or twice at once) counts nothing twice: a chain's watermark
    moves with the counts, under its row lock.
    """
    return sum(_roll_up_chain(chain, batch_size=batch_size) for chain in chain_ids())


def _roll_up_chain(chain: int, *, batch_size: int) -> int:
    counted = 0
    while True:
        with transaction.atomic():
            mark = _watermark_locked(chain)
            # Read before the events: every link up to the head's position is committed (the
            # head moves in the linking transaction), so the range below has no holes.
            head = (
                AuditChainHead.objects.filter(pk=chain).values_list("last_seq", flat=True).first()
            )
            through = min(head or 0, mark.seq + batch_size)
            if through <= mark.seq:
                return counted
            counts = _event_counts(
                AuditEvent.objects.filter(chain=chain, seq__gt=mark.seq, seq__lte=through)
            )
            _counts_add(counts, sign=1)
            counted += counts.total()
            mark.seq = through
            mark.save(update_fields=["seq"])


def audit_counts_expire(*, chain: int, after_seq: int, through_seq: int) -> None:
    """
    Subtract the events of the chain's positions (after_seq, through_seq] that the counters
    hold, before retention deletes them; call it in the deletion's transaction. Events after
    the watermark were never counted, so they are left alone.
    """
    with transaction.atomic():
        mark = _watermark_locked(chain)
        upper = min(through_seq, mark.seq)
        if upper <= after_seq:
            return
        _counts_add(
            _event_counts(
                AuditEvent.objects.filter(chain=chain, seq__gt=after_seq, seq__lte=upper)
            ),
            sign=-1,
        )


def audit_counts_of(events) -> EventCounts:
    """
    The counts of `events` (a queryset), counted without any lock: for retention to count a
    whole partition before it takes the chain lock (`audit_counts_subtract`).
    """
    return _event_counts(events)


def audit_counts_subtract(counts: EventCounts, *, through: dict[int, int]) -> bool:
    """
    Subtract `counts`, counted beforehand from events being deleted, each at or below
    `through[its chain]`, in the deletion's transaction. Only if the counters hold all of
    them (every chain's watermark has reached its `through`); returns False, changing
    nothing, otherwise: the caller then subtracts by seq range (`audit_counts_expire`).
    """
    with transaction.atomic():
        for chain in sorted(through):
            if _watermark_locked(chain).seq < through[chain]:
                return False
        _counts_add(counts, sign=-1)
    return True


@dataclass(frozen=True)
class HourlyCounts:
    """
    Events per (bucket, source), counters and the uncounted tail together: a bucket is an
    hour from `hourly_since` on and a whole day (UTC midnight) before it.
    """

    start: datetime
    hourly_since: datetime
    counts: dict[tuple[datetime, str], int]

    def per_hour(self, hours: int, *, now: datetime) -> tuple[list[datetime], dict[str, list[int]]]:
        last = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        buckets = [last - timedelta(hours=i) for i in reversed(range(hours))]
        if buckets[0] < self.hourly_since:
            raise ValueError("hours before hourly_since were counted by day")
        return buckets, self._series(buckets, key=lambda bucket: bucket)

    def per_day(self, days: int, *, now: datetime) -> tuple[list[datetime], dict[str, list[int]]]:
        today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        buckets = [today - timedelta(days=i) for i in reversed(range(days))]
        return buckets, self._series(
            buckets, key=lambda bucket: bucket.replace(hour=0, minute=0, second=0, microsecond=0)
        )

    def _series(self, buckets, *, key) -> dict[str, list[int]]:
        index = {bucket: i for i, bucket in enumerate(buckets)}
        series = {source: [0] * len(buckets) for source in AuditSource.values}
        for (bucket, source), n in self.counts.items():
            i = index.get(key(bucket.astimezone(UTC)))
            if i is not None and source in series:
                series[source][i] += n
        return series


def _bucket(field: str, hourly_since: datetime) -> Case:
    """The hour of `field` from `hourly_since` on, its day before: fewer rows to read."""
    return Case(
        When(**{f"{field}__gte": hourly_since}, then=TruncHour(field, tzinfo=UTC)),
        default=TruncDay(field, tzinfo=UTC),
        output_field=DateTimeField(),
    )


def audit_counts_since(start: datetime, *, hourly_since: datetime | None = None) -> HourlyCounts:
    """
    Events by source since `start`, per hour from `hourly_since` on (default: `start`) and
    per day before it: the counter rows (at most 3 an hour) plus the events the roll-up has
    not reached, one UNION statement so both halves see one snapshot of the watermark. The
    tail is the chain positions after the watermark (a range of the `seq` index) and the
    pending events (the partial `audit_pending_idx`): the worker's backlog, not the trail.
    """
    start = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hourly_since = (
        (hourly_since or start).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    )
    counters = (
        AuditEventHourlyCount.objects.filter(hour__gte=start)
        .order_by()
        .annotate(bucket=_bucket("hour", hourly_since))
        .values("bucket", "source")
        .annotate(n=Sum("count"), part=Value(0))
        .values_list("bucket", "source", "n", "part")
    )
    # No watermark row yet (nothing rolled up): the whole chain is the tail.
    tail = (
        AuditEvent.objects.filter(_tail(chain_ids()), created_at__gte=start)
        .order_by()
        .annotate(bucket=_bucket("created_at", hourly_since))
        .values("bucket", "source")
        .annotate(n=Count("id"), part=Value(1))
        .values_list("bucket", "source", "n", "part")
    )
    counts: dict[tuple[datetime, str], int] = defaultdict(int)
    # order_by(): the union would otherwise take the counter model's ordering (hour).
    for bucket, source, n, _part in counters.union(tail, all=True).order_by():
        # A CASE of truncations comes back naive (UTC) on some backends.
        counts[(bucket if bucket.tzinfo else bucket.replace(tzinfo=UTC), source)] += n
    return HourlyCounts(start=start, hourly_since=hourly_since, counts=dict(counts))


def audit_scope_count(
    *, project: str, environment: str, group_id: str | None, cruds: frozenset[str]
) -> int:
    """
    How many events one Retraced scope holds whose crud is one of `cruds` ("" for none): a
    project and environment, and one group unless `group_id` is None. The scope counters plus
    the tail the roll-up has not reached, in one statement, as `audit_counts_since`.
    """
    scope = Q(project=project, environment=environment, crud__in=sorted(cruds))
    if group_id is not None:
        scope &= Q(group_id=group_id)
    # The project's events are in its chain, and, if stored before chains split, the default's.
    chains = sorted(
        {
            DEFAULT_CHAIN,
            *AuditChainHead.objects.filter(project=project).values_list("id", flat=True),
        }
    )
    counters = (
        AuditScopeCount.objects.filter(scope)
        .order_by()
        .annotate(part=Value(0))
        .values("part")
        .annotate(n=Sum("count"))
        .values_list("part", "n")
    )
    tail = (
        AuditEvent.objects.filter(_tail(chains), scope)
        .order_by()
        .annotate(part=Value(1))
        .values("part")
        .annotate(n=Count("id"))
        .values_list("part", "n")
    )
    return sum(n or 0 for _part, n in counters.union(tail, all=True).order_by())
