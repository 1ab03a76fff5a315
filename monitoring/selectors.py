"""Reads: the querysets (and model lists) the API, the admin and the dashboard start from."""

from django.db.models import Case, Exists, IntegerField, Max, OuterRef, Q, QuerySet, Value, When
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
