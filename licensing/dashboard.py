"""Admin front-page panels: the application's startup status, and license/version at a glance."""

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from integration_site.dashboard import Panel
from licensing import selectors
from licensing.choices import Severity


def startup_status_panel(request) -> Panel | None:
    status = selectors.startup_status_latest()
    if status is None:
        return None
    age = timezone.now() - status.reported_at
    return Panel(
        title="Application status"
        + (" — STARTUP ERROR" if status.severity == Severity.ERROR else ""),
        message=status.message or "(empty message)",
        severity=status.severity,
        rows=[
            (
                "Reported",
                f"{status.reported_at:%Y-%m-%d %H:%M:%S} UTC ({int(age.total_seconds())}s ago)",
                "",
            ),
            ("By", status.reported_by, ""),
        ],
        link=reverse("admin:licensing_startupstatus_changelist"),
    )


def licensing_panel(request) -> Panel | None:
    license = selectors.license_current()
    installation = selectors.installation_get()
    pending = selectors.releases_pending().count()
    active = selectors.update_job_active()
    rows = []
    if license is None:
        rows.append(("License", "none installed", "severity-critical"))
    else:
        expires = (
            f"{license.expiration_time:%Y-%m-%d}" if license.expiration_time else "never expires"
        )
        css = "severity-critical" if license.is_expired() else ""
        rows.append(("License", f"{license.license_id} ({license.assignee}), {expires}", css))
    current = installation.current_release
    rows.append(
        ("Version", f"{current.version} (sequence {current.sequence})" if current else "none", "")
    )
    rows.append(("Pending updates", str(pending), "severity-warning" if pending else "severity-ok"))
    if active is not None:
        rows.append(
            ("Update job", f"#{active.pk} {active.state} {active.progress}%", "severity-warning")
        )
    message = ""
    severity = "info"
    if not settings.LICENSE_VENDOR_PUBLIC_KEYS:
        message = "DEMO vendor key in use: set LICENSE_VENDOR_PUBLIC_KEYS before production."
        severity = "warning"
    return Panel(
        title="License and updates",
        rows=rows,
        message=message,
        severity=severity,
        link=reverse("admin:licensing_release_changelist"),
    )
