"""The Sensu 1.x JSON shapes the API renders from the domain's models and querysets."""

from typing import Any

from django.conf import settings
from django.utils import timezone

from monitoring import selectors
from monitoring.engine import silences_matching
from monitoring.models import (
    CheckDefinition,
    CheckResult,
    Client,
    Event,
    Filter,
    Handler,
    Mutator,
    Silence,
    Stash,
)


def client_payload(client: Client, *, redacted: bool = False) -> dict[str, Any]:
    return client.as_sensu(redacted=redacted)


def event_payload(event: Event, silences: list[Silence]) -> dict[str, Any]:
    # Silenced flags are computed live, as Uchiwa did (uchiwa#602): the stored ones go stale
    # until the next result when a silence is added or cleared.
    matching = silences_matching(
        client=event.client, check_name=event.check_name, silences=silences
    )
    return {
        "id": str(event.uuid),
        # Redacted as /clients shows it: the event would otherwise show the client's secrets,
        # and `filter.client.<key>=` guesses would confirm them.
        "client": client_payload(event.client, redacted=True),
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


def result_payload(result: CheckResult) -> dict[str, Any]:
    check = {**result.check_data, "history": [entry[0] for entry in result.history]}
    check.pop("total_state_change", None)
    return {"client": result.client.name, "check": check}


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


def stash_payload(stash: Stash, now=None) -> dict[str, Any]:
    now = now or timezone.now()
    expire = -1
    if stash.expires_at is not None:
        expire = max(int((stash.expires_at - now).total_seconds()), 0)
    return {"path": stash.path, "content": stash.content, "expire": expire}


def aggregate_summary(name: str, *, max_age: int | None, now: int) -> dict[str, Any]:
    members = list(selectors.aggregate_members(name))
    results = list(selectors.aggregate_results(name))
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


def settings_payload() -> dict[str, Any]:
    """Sensu's settings as GET /settings shows them (before redaction) and /info digests them."""
    return {
        "checks": {c.name: c.as_sensu() for c in CheckDefinition.objects.order_by("name")},
        # Header values masked even here: /info's digest is computed from this payload too,
        # and no API shows a webhook's credentials.
        "handlers": {h.name: h.as_sensu(redacted=True) for h in Handler.objects.order_by("name")},
        "filters": {f.name: f.as_sensu() for f in Filter.objects.order_by("name")},
        "mutators": {m.name: m.as_sensu() for m in Mutator.objects.order_by("name")},
        "sensu": {
            "keepalives": {
                "thresholds": {
                    "warning": settings.MONITORING_KEEPALIVE_WARNING_SECONDS,
                    "critical": settings.MONITORING_KEEPALIVE_CRITICAL_SECONDS,
                }
            }
        },
        "transport": {"name": "database"},
        "api": {"user": "REDACTED", "password": "REDACTED"},
    }
