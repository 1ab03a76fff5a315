"""The dashboard's monitoring panel: open events by severity now and over 24 hours, clients by status."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from integration_site.dashboard import COLOURS, Chart, Panel, Series
from monitoring.snapshots import (
    client_counts_by_status,
    event_counts_by_severity,
    monitoring_snapshots_since,
)

# The event list's status filter (monitoring.admin.StatusFilter) by severity.
SEVERITIES_SHOWN = (("critical", "Critical"), ("warning", "Warning"), ("unknown", "Unknown"))


def event_list_url(severity: str = "") -> str:
    url = reverse("admin:monitoring_event_changelist")
    return f"{url}?status={severity}" if severity else url


def events_panel(request) -> Panel | None:
    if not request.user.has_perm("monitoring.view_event"):
        return None
    events = event_counts_by_severity()
    clients = client_counts_by_status()
    overview = reverse("admin:monitoring_event_overview")
    now_chart = Chart(
        id="events-now",
        caption="Open events by severity now",
        kind="bar",
        labels=[name for _, name in SEVERITIES_SHOWN],
        series=[
            Series(
                label="Open events",
                values=[getattr(events, severity) for severity, _ in SEVERITIES_SHOWN],
                point_colours=[COLOURS[severity] for severity, _ in SEVERITIES_SHOWN],
                links=[event_list_url(severity) for severity, _ in SEVERITIES_SHOWN],
            )
        ],
        link=event_list_url(),
        link_text="All open events",
    )
    snapshots = monitoring_snapshots_since(timezone.now() - timedelta(hours=24))
    history = Chart(
        id="events-24h",
        caption="Open events, last 24 hours (UTC)",
        kind="line",
        stacked=True,
        labels=[f"{snapshot.taken_at:%H:%M}" for snapshot in snapshots],
        series=[
            Series(
                label=name,
                values=[getattr(snapshot, f"events_{severity}") for snapshot in snapshots],
                colour=COLOURS[severity],
            )
            for severity, name in SEVERITIES_SHOWN
        ],
        link=event_list_url(),
        link_text="Open events",
    )
    statuses = (("ok", "OK"), *SEVERITIES_SHOWN)
    client_chart = Chart(
        id="clients-status",
        caption="Clients by worst status",
        kind="doughnut",
        labels=[name for _, name in statuses],
        series=[
            Series(
                label="Clients",
                values=[getattr(clients, status) for status, _ in statuses],
                point_colours=[COLOURS[status] for status, _ in statuses],
            )
        ],
        link=overview,
        link_text="Monitoring overview",
    )
    return Panel(
        title="Monitoring events",
        rows=[
            ("Critical", str(events.critical), "severity-critical" if events.critical else ""),
            ("Warning", str(events.warning), "severity-warning" if events.warning else ""),
            ("Unknown", str(events.unknown), "severity-unknown" if events.unknown else ""),
            ("Silenced", str(events.silenced), ""),
            ("Open events", str(events.total), ""),
            ("Clients", str(clients.total), ""),
        ],
        charts=[now_chart, history, client_chart],
        link=overview,
        link_text="Monitoring overview",
        links=[("Open events", event_list_url())],
    )
