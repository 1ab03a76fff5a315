"""Reads: the querysets (and model lists) the API, the admin and the dashboard start from."""

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from monitoring.models import (
    AggregateMember,
    CheckDefinition,
    CheckResult,
    Client,
    Event,
    Silence,
    Stash,
)


def silences_active(now=None) -> list[Silence]:
    now = now or timezone.now()
    return list(Silence.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)))


def silences_by_keys(keys: set[str], now=None) -> list[Silence]:
    """The live entries among `keys` (silence ids): what can silence a bounded set of events."""
    if not keys:
        return []
    now = now or timezone.now()
    return list(
        Silence.objects.filter(silence_id__in=sorted(keys)).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )
    )


def events_queryset() -> QuerySet[Event]:
    return Event.objects.select_related("client").order_by("id")


def results_queryset() -> QuerySet[CheckResult]:
    return CheckResult.objects.select_related("client").order_by("id")


def checks_queryset() -> QuerySet[CheckDefinition]:
    return CheckDefinition.objects.filter(standalone=False).order_by("name")


def silences_queryset(now=None) -> QuerySet[Silence]:
    now = now or timezone.now()
    return Silence.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).order_by(
        "silence_id"
    )


def stashes_queryset(now=None) -> QuerySet[Stash]:
    now = now or timezone.now()
    return Stash.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).order_by("path")


def aggregate_names() -> QuerySet:
    """The distinct aggregate names, sorted (a flat values_list)."""
    return AggregateMember.objects.order_by("name").values_list("name", flat=True).distinct()


def aggregate_members(name: str) -> QuerySet[AggregateMember]:
    return AggregateMember.objects.filter(name=name).select_related("client")


def aggregate_results(name: str) -> QuerySet[CheckResult]:
    """
    The latest result of each (client, check) pair in the aggregate. One correlated EXISTS,
    not an OR of one condition per member, so an aggregate of thousands of members is still
    one small query plan. Callers apply `max_age` themselves: a stale result is counted as
    `stale`, not left out.
    """
    member = AggregateMember.objects.filter(
        name=name, client_id=OuterRef("client_id"), check_name=OuterRef("check_name")
    )
    return CheckResult.objects.filter(Exists(member)).select_related("client")


def clients_with_worst_status() -> QuerySet[Client]:
    """Clients annotated with `worst_rank` as Uchiwa ranks it: critical > warning > unknown > ok."""
    rank = Case(
        When(events__status=2, then=Value(3)),
        When(events__status=1, then=Value(2)),
        When(events__status__isnull=False, events__status__gt=0, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    return Client.objects.annotate(worst_rank=Max(rank))


WORST_RANK_STATUS = {3: 2, 2: 1, 1: 3, 0: 0}


# --- The monitoring overview (Uchiwa's views): bounded reads whatever the number of events ---

# Sorting key of the overview: critical first, then warning, unknown, and OK (an event an
# auto_resolve: false check keeps after an OK result) last.
SEVERITY_ORDER = Case(
    When(status=2, then=Value(0)),
    When(status=1, then=Value(1)),
    When(status=0, then=Value(3)),
    default=Value(2),
    output_field=IntegerField(),
)
OVERVIEW_STATUSES = ("critical", "warning", "unknown", "ok")


def overview_events_filtered(*, text: str = "", status: str = "") -> QuerySet[Event]:
    """
    The open events matching the overview's filter box: `text` is a case-insensitive
    substring of the client name, the check name or one of the client's subscriptions (the
    subscription list's JSON text, which holds each name verbatim), `status` a severity.
    """
    events = Event.objects.all()
    text = text.strip()
    if text:
        events = events.filter(
            Q(client__name__icontains=text)
            | Q(check_name__icontains=text)
            | Q(client__subscriptions__icontains=text)
        )
    match status:
        case "critical":
            events = events.filter(status=2)
        case "warning":
            events = events.filter(status=1)
        case "ok":
            events = events.filter(status=0)
        case "unknown":
            events = events.exclude(status__in=[0, 1, 2])
    return events


def overview_events(*, text: str = "", status: str = "", limit: int) -> list[Event]:
    """
    The first `limit` matching events, most severe first, then the longest-standing (the
    oldest state change) first: one query, whatever the number of open events.
    """
    return list(
        overview_events_filtered(text=text, status=status)
        .select_related("client")
        .defer("check_data", "silenced_by", "client__keepalive", "client__attributes")
        .annotate(severity_order=SEVERITY_ORDER)
        .order_by("severity_order", F("last_state_change").asc(nulls_first=True), "id")[:limit]
    )


def overview_event_counts(*, text: str = "", status: str = "") -> dict[str, int]:
    """Matching events per severity and in total, in one aggregate query."""
    counts = overview_events_filtered(text=text, status=status).aggregate(
        total=Count("id"),
        critical=Count("id", filter=Q(status=2)),
        warning=Count("id", filter=Q(status=1)),
        ok=Count("id", filter=Q(status=0)),
    )
    counts["unknown"] = counts["total"] - counts["critical"] - counts["warning"] - counts["ok"]
    return counts


def overview_clients(*, text: str = "", limit: int) -> list[Client]:
    """
    The client tiles: the first `limit` clients, worst status first, then by name, each
    annotated with `worst_rank`; one GROUP BY query. `text` filters on name or subscription.
    """
    clients = clients_with_worst_status()
    text = text.strip()
    if text:
        clients = clients.filter(Q(name__icontains=text) | Q(subscriptions__icontains=text))
    return list(
        clients.only("id", "name", "subscriptions", "keepalives", "timestamp").order_by(
            "-worst_rank", "name"
        )[:limit]
    )


def overview_client_counts(*, text: str = "") -> dict[str, int]:
    """
    Clients by worst status (ok, warning, critical, unknown) and in total, in two aggregate
    queries: the clients' count, and the count of each worst rank over the events grouped
    by client (Django wraps the GROUP BY in a subquery). A client without a failing event is
    healthy, so `ok` is what is left.
    """
    clients = Client.objects.all()
    events = Event.objects.all()
    text = text.strip()
    if text:
        clients = clients.filter(Q(name__icontains=text) | Q(subscriptions__icontains=text))
        events = events.filter(
            Q(client__name__icontains=text) | Q(client__subscriptions__icontains=text)
        )
    rank = Case(
        When(status=2, then=Value(3)),
        When(status=1, then=Value(2)),
        When(status__gt=0, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    worst = (
        events.order_by()
        .values("client_id")
        .annotate(worst_rank=Max(rank))
        .aggregate(
            critical=Count("client_id", filter=Q(worst_rank=3)),
            warning=Count("client_id", filter=Q(worst_rank=2)),
            unknown=Count("client_id", filter=Q(worst_rank=1)),
        )
    )
    total = clients.count()
    return {
        "total": total,
        **worst,
        "ok": total - worst["critical"] - worst["warning"] - worst["unknown"],
    }


def client_results(client: Client, *, limit: int) -> list[CheckResult]:
    """A client's latest results per check, with their history, by check name (bounded)."""
    return list(
        CheckResult.objects.filter(client=client).defer("check_data").order_by("check_name")[:limit]
    )
