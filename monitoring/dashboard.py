from django.urls import reverse

from integration_site.dashboard import Panel
from monitoring.engine import event_is_silenced
from monitoring.models import Client, Event
from monitoring.selectors import silences_active


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


def events_panel(request) -> Panel | None:
    if not request.user.has_perm("monitoring.view_event"):
        return None
    counts = event_counts_by_severity()
    return Panel(
        title="Monitoring events",
        rows=[
            ("Critical", str(counts["critical"]), "severity-critical"),
            ("Warning", str(counts["warning"]), "severity-warning"),
            ("Unknown", str(counts["unknown"]), "severity-unknown"),
            ("Silenced", str(counts["silenced"]), ""),
            ("Open events", str(counts["total"]), ""),
            ("Clients", str(Client.objects.count()), ""),
        ],
        link=reverse("admin:monitoring_event_changelist"),
    )
