"""Admin front-page panels: the application's startup status, and license/version at a glance."""

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from integration_site.dashboard import Panel, TimelineEntry
from licensing import selectors
from licensing.choices import JobState, Severity
from licensing.models import License


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


# Releases applied shown on the dashboard's timeline; the Updates page has the whole history.
HISTORY_SHOWN = 8
# Fewer days left than this and the countdown turns red.
EXPIRY_WARNING_DAYS = 30


def license_countdown(license: License | None, *, now=None) -> tuple[str, str]:
    """The expiry countdown: (text, css class), red when expired or under 30 days."""
    if license is None:
        return "No license installed", "severity-critical"
    if license.expiration_time is None:
        return "License never expires", "severity-ok"
    now = now or timezone.now()
    if license.is_expired(now=now):
        ago = (now - license.expiration_time).days
        return f"License expired {ago} day{'' if ago == 1 else 's'} ago", "severity-critical"
    days = (license.expiration_time - now).days
    text = f"{days} day{'' if days == 1 else 's'} left on the license"
    return text, "severity-critical" if days < EXPIRY_WARNING_DAYS else "severity-ok"


def version_history(*, limit: int = HISTORY_SHOWN) -> list[TimelineEntry]:
    """The last update jobs, newest first: version, when, by whom, result."""
    entries = []
    for job in selectors.update_jobs().order_by("-created_at", "-pk")[:limit]:
        when = job.finished_at or job.started_at or job.created_at
        who = job.requested_by_name or (job.requested_by.get_username() if job.requested_by else "")
        result = {
            JobState.SUCCEEDED: ("applied", "severity-ok"),
            JobState.FAILED: ("failed", "severity-critical"),
        }.get(
            job.state, (f"{job.get_state_display().lower()} ({job.progress}%)", "severity-warning")
        )
        entries.append(
            TimelineEntry(
                when=f"{when:%Y-%m-%d %H:%M} UTC",
                title=f"Version {job.target_release.version}",
                detail=f"{result[0]}" + (f", by {who}" if who else ""),
                css=result[1],
            )
        )
    return entries


def licensing_panel(request) -> Panel | None:
    license = selectors.license_current()
    installation = selectors.installation_get()
    pending = selectors.releases_pending().count()
    active = selectors.update_job_active()
    updates_url = reverse("admin:licensing_release_updates")
    rows = []
    if license is not None:
        expires = (
            f"{license.expiration_time:%Y-%m-%d}" if license.expiration_time else "never expires"
        )
        rows += [
            ("License", license.license_id, ""),
            ("Assignee", license.assignee or "—", ""),
            ("Type", license.get_license_type_display(), ""),
            ("Channel", license.release_channel, ""),
            ("Expires", expires, "severity-critical" if license.is_expired() else ""),
        ]
        rows += [
            (field.title or field.field, _field_value(field.value), "")
            for field in selectors.license_fields(license=license, include_hidden=False)[:10]
        ]
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
        headline=license_countdown(license),
        rows=rows,
        message=message,
        severity=severity,
        timeline_caption="Version history",
        timeline=version_history(),
        link=updates_url,
        link_text=f"Updates ({pending} pending)" if pending else "Updates",
        links=[("Releases", reverse("admin:licensing_release_changelist"))],
    )


def _field_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "—" if value in (None, "") else str(value)
