"""
What the console's monitoring overview (Uchiwa's views) and a client's page show, read in a
fixed number of queries whatever the number of events, and prepared for their templates
(strings, one reverse() per page): the admin views only add the request's filter and
permissions.
"""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from monitoring import selectors
from monitoring.engine import silence_keys, silences_matching
from monitoring.models import Client, Event, Silence, epoch_now, severity_of, silence_key

# Bounded lists: the page costs the same with 50 or 5,000 open events; the counts say how
# many more there are and the "all" links open the full changelists.
EVENTS_SHOWN = 50
CLIENTS_SHOWN = 200
SILENCES_SHOWN = 50
CLIENT_RESULTS_SHOWN = 100
OUTPUT_LENGTH = 160
FILTER_MAX_LENGTH = 200
# Uchiwa polls its Sensu APIs every 10 s by default; the page polls its own endpoint so.
REFRESH_SECONDS = 10
# More than any page shows; a forged post cannot make one request resolve the whole fleet.
ACT_LIMIT = 1000


def age_display(seconds: int | None) -> str:
    """A duration as a console shows it at a glance: "45 s", "12 min", "3 h", "2 d"."""
    if seconds is None:
        return "—"
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def epoch_display(value: int | None) -> str:
    if not value:
        return "—"
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def summary(text: str, length: int = OUTPUT_LENGTH) -> str:
    text = text.strip()
    return text if len(text) <= length else text[: length - 1] + "…"


def client_silence_keys(client: Client) -> set[str]:
    """The entries that silence every check of the client (Uchiwa's client silence)."""
    subscriptions = set(client.subscriptions or []) | {f"client:{client.name}"}
    return {silence_key(subscription, None) for subscription in subscriptions}


def _event_row(event: Event, silences: list[Silence], *, url: str, epoch: int) -> dict[str, Any]:
    silenced_by = silences_matching(
        client=event.client, check_name=event.check_name, silences=silences
    )
    return {
        "pk": str(event.pk),
        "client": event.client.name,
        "check": event.check_name,
        "severity": event.severity,
        "url": url,
        "occurrences": str(event.occurrences),
        "silenced_by": ", ".join(s.silence_id for s in silenced_by),
        "age": age_display(epoch - (event.last_state_change or event.timestamp)),
        "flapping": event.action == Event.Action.FLAPPING,
        "output": summary(event.output),
    }


def _client_tile(client: Client, silences: list[Silence], *, url: str, now) -> dict[str, Any]:
    whole = client_silence_keys(client)
    return {
        "name": client.name,
        "severity": severity_of(selectors.WORST_RANK_STATUS[client.worst_rank or 0]),
        # Drawn apart, keeping the colour of what is wrong.
        "silenced": any(
            s.silence_id in whole and (s.begin is None or s.begin <= now) for s in silences
        ),
        "url": url,
    }


def overview_read(*, text: str = "", status: str = "", link_clients: bool = True) -> dict:
    """
    The overview's regions: the top events and the worst client tiles (bounded lists), the
    counts (aggregates), the live silences (bounded) and, to mark what is silenced, only the
    entries that can silence what is shown, looked up by their ids.
    """
    now = timezone.now()
    epoch = int(now.timestamp())
    events = selectors.overview_events(text=text, status=status, limit=EVENTS_SHOWN)
    clients = selectors.overview_clients(text=text, limit=CLIENTS_SHOWN)
    keys: set[str] = set()
    for event in events:
        keys |= silence_keys(event.client, event.check_name)
    for client in clients:
        keys |= client_silence_keys(client)
    silences_of_shown = selectors.silences_by_keys(keys, now=now)
    # One reverse() each, not one per row: a row's link is the pattern with its id.
    event_url = reverse("admin:monitoring_event_change", args=["__id__"])
    client_url = reverse("admin:monitoring_client_change", args=["__id__"]) if link_clients else ""
    silences = selectors.silences_queryset(now=now).order_by(
        F("expires_at").asc(nulls_last=True), "silence_id"
    )
    events_query = {k: v for k, v in (("q", text), ("status", status)) if v}
    return {
        "now": now,
        "events": [
            _event_row(
                event,
                silences_of_shown,
                url=event_url.replace("__id__", str(event.pk)),
                epoch=epoch,
            )
            for event in events
        ],
        "event_counts": selectors.overview_event_counts(text=text, status=status),
        "clients": [
            _client_tile(
                client, silences_of_shown, url=client_url.replace("__id__", str(client.pk)), now=now
            )
            for client in clients
        ],
        "client_counts": selectors.overview_client_counts(text=text),
        "silences": list(silences[:SILENCES_SHOWN]),
        "silence_total": silences.count(),
        "events_url": _with_query(reverse("admin:monitoring_event_changelist"), events_query),
        "clients_url": _with_query(
            reverse("admin:monitoring_client_changelist"), {"q": text} if text else {}
        ),
        "silences_url": reverse("admin:monitoring_silence_changelist"),
    }


def _with_query(url: str, query: dict[str, str]) -> str:
    return f"{url}?{urlencode(query)}" if query else url


def _history_dot(entry: list) -> dict[str, str]:
    """One of the 21 history entries ([status, executed, output]) as a dot with its words."""
    status, executed, output = [*entry, None, None, ""][:3]
    severity = severity_of(status if isinstance(status, int) else None)
    return {
        "severity": severity,
        "label": f"{severity} (status {status}) at {epoch_display(executed)}",
        "output": summary(str(output or ""), 120),
    }


def client_checks_read(client: Client) -> dict:
    """A client's checks as its page shows them: last result, output, the 21 history dots."""
    results = selectors.client_results(client, limit=CLIENT_RESULTS_SHOWN + 1)
    now = epoch_now()
    return {
        "rows": [
            {
                "result": result,
                "severity": result.severity,
                "output": summary(result.output),
                "executed": epoch_display(result.executed),
                "age": age_display(now - result.executed) if result.executed else "—",
                "dots": [_history_dot(entry) for entry in result.history or []],
            }
            for result in results[:CLIENT_RESULTS_SHOWN]
        ],
        "more": len(results) > CLIENT_RESULTS_SHOWN,
        "shown": CLIENT_RESULTS_SHOWN,
    }
