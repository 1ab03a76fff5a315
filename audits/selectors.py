from django.db.models import QuerySet

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
