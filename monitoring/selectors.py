"""Reads: querysets and the Sensu JSON shapes rendered from them."""

from typing import Any

from django.db.models import Case, IntegerField, Max, Q, QuerySet, Value, When
from django.utils import timezone

from monitoring.engine import silences_matching
from monitoring.models import (
    AggregateMember,
    CheckDefinition,
    CheckResult,
    Client,
    Event,
    Silence,
    Stash,
)
from monitoring.redaction import redact


def client_payload(client: Client, *, redacted: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        **client.attributes,
        "name": client.name,
        "address": client.address,
        "subscriptions": list(client.subscriptions or []),
        "timestamp": client.timestamp,
        "keepalives": client.keepalives,
    }
    if client.version:
        data["version"] = client.version
    if client.type == "proxy":
        data["type"] = "proxy"
    if client.keepalive:
        data["keepalive"] = client.keepalive
    return redact(data) if redacted else data


def silences_active(now=None) -> list[Silence]:
    now = now or timezone.now()
    return list(Silence.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)))


def events_queryset() -> QuerySet[Event]:
    return Event.objects.select_related("client").order_by("id")


def event_payload(event: Event, silences: list[Silence]) -> dict[str, Any]:
    # Silenced flags are computed live, as Uchiwa did (uchiwa#602): the stored ones go stale
    # until the next result when a silence is added or cleared.
    matching = silences_matching(
        client=event.client, check_name=event.check_name, silences=silences
    )
    return {
        "id": str(event.uuid),
        "client": client_payload(event.client),
        "check": event.check_data,
        "occurrences": event.occurrences,
        "occurrences_watermark": event.occurrences_watermark,
        "action": event.action,
        "timestamp": event.timestamp,
        "last_ok": event.last_ok,
        "last_state_change": event.last_state_change,
        "silenced": bool(matching),
        "silenced_by": sorted(s.silence_id for s in matching),
    }


def event_is_silenced(event: Event, silences: list[Silence]) -> bool:
    return bool(
        silences_matching(client=event.client, check_name=event.check_name, silences=silences)
    )


def event_payloads(events, silences: list[Silence] | None = None) -> list[dict[str, Any]]:
    silences = silences_active() if silences is None else silences
    return [event_payload(e, silences) for e in events]


def result_payload(result: CheckResult) -> dict[str, Any]:
    check = {**result.check_data, "history": [entry[0] for entry in result.history]}
    check.pop("total_state_change", None)
    return {"client": result.client.name, "check": check}


def results_queryset() -> QuerySet[CheckResult]:
    return CheckResult.objects.select_related("client").order_by("id")


def client_history(client: Client) -> list[dict[str, Any]]:
    rows = []
    for result in client.results.order_by("check_name"):
        rows.append(
            {
                "check": result.check_name,
                "history": [entry[0] for entry in result.history],
                "last_execution": result.executed,
                "last_status": result.status,
                "last_result": result.check_data,
            }
        )
    return rows


def check_payload(definition: CheckDefinition) -> dict[str, Any]:
    return {"name": definition.name, **definition.as_sensu()}


def checks_queryset() -> QuerySet[CheckDefinition]:
    return CheckDefinition.objects.filter(standalone=False).order_by("name")


def silence_payload(silence: Silence, now=None) -> dict[str, Any]:
    now = now or timezone.now()
    expire = -1
    if silence.expires_at is not None:
        expire = max(int((silence.expires_at - now).total_seconds()), 0)
    return {
        "id": silence.silence_id,
        "subscription": silence.subscription,
        "check": silence.check_name,
        "reason": silence.reason,
        "creator": silence.creator,
        "begin": int(silence.begin.timestamp()) if silence.begin else None,
        "expire_on_resolve": silence.expire_on_resolve,
        "timestamp": silence.timestamp,
        "expire": expire,
    }


def silences_queryset(now=None) -> QuerySet[Silence]:
    now = now or timezone.now()
    return Silence.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).order_by(
        "silence_id"
    )


def stashes_queryset(now=None) -> QuerySet[Stash]:
    now = now or timezone.now()
    return Stash.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).order_by("path")


def stash_payload(stash: Stash, now=None) -> dict[str, Any]:
    now = now or timezone.now()
    expire = -1
    if stash.expires_at is not None:
        expire = max(int((stash.expires_at - now).total_seconds()), 0)
    return {"path": stash.path, "content": stash.content, "expire": expire}


def aggregate_names() -> list[str]:
    return list(AggregateMember.objects.order_by("name").values_list("name", flat=True).distinct())


def aggregate_members(name: str) -> QuerySet[AggregateMember]:
    return AggregateMember.objects.filter(name=name).select_related("client")


def aggregate_results(name: str, *, max_age: int | None = None) -> QuerySet[CheckResult]:
    members = aggregate_members(name).values_list("client_id", "check_name")
    condition = Q(pk__in=[])
    for client_id, check_name in members:
        condition |= Q(client_id=client_id, check_name=check_name)
    return CheckResult.objects.filter(condition).select_related("client")


def aggregate_summary(name: str, *, max_age: int | None, now: int) -> dict[str, Any]:
    members = list(aggregate_members(name))
    results = list(aggregate_results(name))
    counts = {"ok": 0, "warning": 0, "critical": 0, "unknown": 0, "total": 0, "stale": 0}
    for result in results:
        if max_age is not None and result.executed is not None and now - result.executed > max_age:
            counts["stale"] += 1
            continue
        counts[
            ("ok", "warning", "critical")[result.status] if 0 <= result.status <= 2 else "unknown"
        ] += 1
        counts["total"] += 1
    return {
        "clients": len({m.client_id for m in members}),
        "checks": len({m.check_name for m in members}),
        "results": counts,
    }


def clients_with_worst_status() -> QuerySet[Client]:
    """Clients annotated with `worst` as Uchiwa ranks it: critical > warning > unknown > ok."""
    rank = Case(
        When(events__status=2, then=Value(3)),
        When(events__status=1, then=Value(2)),
        When(events__status__isnull=False, events__status__gt=0, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    return Client.objects.annotate(worst_rank=Max(rank))


WORST_RANK_STATUS = {3: 2, 2: 1, 1: 3, 0: 0}


def event_counts_by_severity() -> dict[str, int]:
    counts = {"critical": 0, "warning": 0, "unknown": 0, "total": 0, "silenced": 0}
    silences = silences_active()
    for event in Event.objects.select_related("client").only(
        "status", "check_name", "client__name", "client__subscriptions"
    ):
        counts["total"] += 1
        if event.status == 2:
            counts["critical"] += 1
        elif event.status == 1:
            counts["warning"] += 1
        elif event.status != 0:
            counts["unknown"] += 1
        if event_is_silenced(event, silences):
            counts["silenced"] += 1
    return counts
