"""
The dashboard's monitoring figures: open events by severity and clients by worst status, as
aggregate queries (never a row per event in Python), and their history as a snapshot a worker
job writes every few minutes (events keep no history: a resolved one is deleted, as in Sensu).
"""

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Q
from django.tasks import task
from django.utils import timezone

from integration_site.schedule import periodic
from monitoring.models import Client, Event, MonitoringSnapshot
from monitoring.selectors import silences_active

SNAPSHOT_EVERY = timedelta(minutes=5)
SNAPSHOT_KEEP = timedelta(hours=48)


@dataclass(frozen=True)
class EventCounts:
    warning: int
    critical: int
    unknown: int
    total: int
    # Silenced by the live silences now, as the API and the admin judge each event.
    silenced: int


@dataclass(frozen=True)
class ClientCounts:
    ok: int
    warning: int
    critical: int
    unknown: int

    @property
    def total(self) -> int:
        return self.ok + self.warning + self.critical + self.unknown


def event_counts_by_severity() -> EventCounts:
    """One aggregate over the open events (Sensu's statuses: 1 warning, 2 critical, other unknown)."""
    counts = Event.objects.aggregate(
        warning=Count("id", filter=Q(status=1)),
        critical=Count("id", filter=Q(status=2)),
        unknown=Count("id", filter=~Q(status__in=(0, 1, 2))),
        total=Count("id"),
    )
    return EventCounts(**counts, silenced=silenced_event_count())


def silenced_event_count(*, now: datetime | None = None) -> int:
    """
    How many open events the live silences silence now (monitoring.engine.silences_matching:
    `S:*`, `S:<check>` for each subscription S of the client, `client:<name>`, `*:<check>`),
    as one COUNT with a condition per silence instead of a match per event row. Subscriptions
    are JSON lists, whose containment SQLite cannot query: the clients of the silenced
    subscriptions come from one read of the clients' lists, only when such a silence exists.
    """
    now = now or timezone.now()
    silences = [s for s in silences_active(now) if s.begin is None or s.begin <= now]
    condition = Q(pk__in=[])
    by_subscription: dict[str, list[Q]] = {}
    for silence in silences:
        check = Q(check_name=silence.check_name) if silence.check_name else Q()
        if silence.subscription is None:
            if silence.check_name:  # `*:*` names no key Sensu looks up
                condition |= check
        elif silence.subscription.startswith("client:"):
            condition |= Q(client__name=silence.subscription.removeprefix("client:")) & check
        else:
            by_subscription.setdefault(silence.subscription, []).append(check)
    if by_subscription:
        members: dict[str, list[int]] = {subscription: [] for subscription in by_subscription}
        for pk, subscriptions in Client.objects.values_list("pk", "subscriptions"):
            for subscription in set(subscriptions or ()) & members.keys():
                members[subscription].append(pk)
        for subscription, checks in by_subscription.items():
            for check in checks:
                condition |= Q(client_id__in=members[subscription]) & check
    return Event.objects.filter(condition).count() if silences else 0


def client_counts_by_status() -> ClientCounts:
    """
    Clients by their worst open event, ranked as Uchiwa does (critical > warning > unknown >
    ok; monitoring.selectors.clients_with_worst_status): one GROUP BY over a GROUP BY, then
    every client without a failing event is ok.
    """
    events = connection.ops.quote_name(Event._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT worst, COUNT(*) FROM ("
            " SELECT client_id, MAX(CASE WHEN status = 2 THEN 3 WHEN status = 1 THEN 2"
            f" WHEN status > 0 OR status < 0 THEN 1 ELSE 0 END) AS worst FROM {events}"
            " GROUP BY client_id) AS per_client GROUP BY worst"
        )
        by_rank = dict(cursor.fetchall())
    critical, warning, unknown = (by_rank.get(rank, 0) for rank in (3, 2, 1))
    return ClientCounts(
        ok=Client.objects.count() - critical - warning - unknown,
        warning=warning,
        critical=critical,
        unknown=unknown,
    )


def monitoring_snapshot_take(*, now: datetime | None = None) -> MonitoringSnapshot:
    """Record the counts now and drop the snapshots older than SNAPSHOT_KEEP."""
    now = now or timezone.now()
    events = event_counts_by_severity()
    clients = client_counts_by_status()
    snapshot, _ = MonitoringSnapshot.objects.update_or_create(
        taken_at=now,
        defaults={
            "events_warning": events.warning,
            "events_critical": events.critical,
            "events_unknown": events.unknown,
            **{f"clients_{status}": n for status, n in asdict(clients).items()},
        },
    )
    MonitoringSnapshot.objects.filter(taken_at__lt=now - SNAPSHOT_KEEP).delete()
    return snapshot


def monitoring_snapshots_since(start: datetime) -> list[MonitoringSnapshot]:
    # Bounded: one row per SNAPSHOT_EVERY, pruned after SNAPSHOT_KEEP.
    return list(MonitoringSnapshot.objects.filter(taken_at__gte=start).order_by("taken_at"))


@periodic(every=SNAPSHOT_EVERY)
@task()
def monitoring_snapshot() -> int:
    """Write the dashboard's monitoring snapshot (counts by severity and status)."""
    return monitoring_snapshot_take().pk


def load_snapshot_history_demo(say) -> None:
    """
    Demo: 24 hours of snapshots ending at the demo's current counts, a working day's wave of
    warnings and a critical spell in the afternoon, so the dashboard's history has a shape on
    a fresh site. Skipped when snapshots exist (a second load adds nothing).
    """
    if MonitoringSnapshot.objects.exists():
        return
    now = timezone.now()
    events = event_counts_by_severity()
    clients = client_counts_by_status()
    steps = int(timedelta(hours=24) / SNAPSHOT_EVERY)
    rows = []
    for step in range(steps, 0, -1):
        phase = step / steps  # 1 a day ago .. just above 0 now
        wave = max(0.0, math.sin(phase * math.pi * 2))
        spell = 1 if 0.35 < phase < 0.45 else 0
        warning = events.warning + round(3 * wave)
        critical = events.critical + spell * 2
        rows.append(
            MonitoringSnapshot(
                taken_at=now - step * SNAPSHOT_EVERY,
                events_warning=warning,
                events_critical=critical,
                events_unknown=events.unknown,
                clients_ok=max(0, clients.ok - spell),
                clients_warning=clients.warning,
                clients_critical=clients.critical + spell,
                clients_unknown=clients.unknown,
            )
        )
    MonitoringSnapshot.objects.bulk_create(rows)
    monitoring_snapshot_take(now=now)
    say(f"monitoring history: {len(rows) + 1} snapshots over 24 hours")
