from django.urls import reverse

from integration_site.dashboard import Panel
from monitoring.models import Client
from monitoring.selectors import event_counts_by_severity


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
