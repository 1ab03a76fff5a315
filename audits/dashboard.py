"""The dashboard's audit panel: events per hour (48 h) and per day (30 days), stacked by source."""

from datetime import datetime, timedelta

from django.urls import reverse
from django.utils import timezone

from audits.counters import audit_counts_since
from audits.models import AuditSource
from integration_site.dashboard import COLOURS, Chart, Panel, Series

HOURS_SHOWN = 48
DAYS_SHOWN = 30


def audit_list_url(
    *, day: datetime | None = None, source: str = "", last: datetime | None = None, base: str = ""
) -> str:
    """
    The audit changelist filtered to a day (or from `day` to `last`), and a source. `base`
    is the changelist's path when the caller has it (a chart asks for a link per point).
    ISO dates and source values need no quoting.
    """
    params = []
    if day is not None:
        params.append(f"created_at__range_from={day.date().isoformat()}")
        params.append(f"created_at__range_to={(last or day).date().isoformat()}")
    if source:
        params.append(f"source__exact={source}")
    url = base or reverse("admin:audits_auditevent_changelist")
    return f"{url}?{'&'.join(params)}" if params else url


def _chart_by_source(
    *,
    id: str,
    caption: str,
    labels: list[str],
    buckets: list[datetime],
    counts: dict[str, list[int]],
    link_text: str,
) -> Chart:
    """A bar chart of `counts` per bucket (hour or day) stacked by source."""
    return Chart(
        id=id,
        caption=caption,
        kind="bar",
        stacked=True,
        labels=labels,
        series=[
            Series(
                label=name,
                values=counts[source],
                colour=COLOURS[source],
                # The list's filter is by day: a bar of an hour opens its day, of that source.
                links=[audit_list_url(day=bucket, source=source) for bucket in buckets],
            )
            for source, name in AuditSource.choices
        ],
        link=audit_list_url(day=buckets[0], last=buckets[-1]),
        link_text=link_text,
    )


def audit_activity_panel(request) -> Panel | None:
    if not request.user.has_perm("audits.view_auditevent"):
        return None
    now = timezone.now()
    counts = audit_counts_since(
        now - timedelta(days=DAYS_SHOWN - 1, hours=now.hour),
        hourly_since=now - timedelta(hours=HOURS_SHOWN - 1),
    )
    hours, per_hour = counts.per_hour(HOURS_SHOWN, now=now)
    hourly = _chart_by_source(
        id="audit-hourly",
        caption=f"Audit events per hour, last {HOURS_SHOWN} hours (UTC)",
        labels=[f"{hour:%d %b %H:00}" for hour in hours],
        buckets=hours,
        counts=per_hour,
        link_text="Events of the last two days",
    )
    days, per_day = counts.per_day(DAYS_SHOWN, now=now)
    daily = _chart_by_source(
        id="audit-daily",
        caption=f"Audit events per day, last {DAYS_SHOWN} days (UTC)",
        labels=[f"{day:%Y-%m-%d}" for day in days],
        buckets=days,
        counts=per_day,
        link_text=f"Events of the last {DAYS_SHOWN} days",
    )
    total_today = sum(series[-1] for series in per_day.values())
    week = sum(sum(series[-7:]) for series in per_day.values())
    return Panel(
        title="Audit trail",
        rows=[
            ("Today", f"{total_today} events", ""),
            ("Last 7 days", f"{week} events", ""),
        ],
        charts=[hourly, daily],
        link=reverse("admin:audits_auditevent_changelist"),
        link_text="All audit events",
    )
