from django.db.models import Count, Max, QuerySet

from audits.models import AuditEvent, AuditExport


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.all()


def audit_exports_visible(user) -> QuerySet[AuditExport]:
    """The exports a user's Exports page lists: their own, or everyone's for a superuser."""
    exports = AuditExport.objects.select_related("requested_by")
    return exports if user.is_superuser else exports.filter(requested_by_id=user.pk)


def audit_export_may_download(export: AuditExport, user) -> bool:
    """Only the requester, or a superuser, may fetch an export's file: it is their query's
    result, and may hold more than another staff member's filters would show them."""
    if user.is_superuser:
        return True
    return export.requested_by_id is not None and export.requested_by_id == user.pk


def audit_groups_recent(*, scanned: int, limit: int) -> list[dict]:
    """
    The Retraced groups (project, environment, group_id) among the newest `scanned` events,
    newest first, each with its latest name, its event count in that window and its last
    event's time. Bounded by design: one scan of `scanned` rows down the created_at index,
    never a GROUP BY over the whole trail (the admin opens any other group by its id).
    """
    newest = AuditEvent.objects.order_by("-created_at", "-id").values("pk")[:scanned]
    return list(
        AuditEvent.objects.filter(pk__in=newest)
        .exclude(group_id="")
        .values("project", "environment", "group_id")
        .annotate(name=Max("group_name"), events=Count("pk"), last_event=Max("created_at"))
        .order_by("-last_event")[:limit]
    )
