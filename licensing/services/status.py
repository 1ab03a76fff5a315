"""The application's startup status, reported through PUT /status/v1/startup."""

from audits.context import AuditTarget, current_audit_context
from audits.models import AuditSource, Crud
from audits.services import audit_event_record
from licensing.choices import Severity
from licensing.models import StartupStatus


def startup_status_report(*, message: str, severity: str = Severity.INFO) -> StartupStatus:
    status = StartupStatus.objects.create(
        message=message,
        severity=severity,
        reported_by=current_audit_context().actor.name,
    )
    audit_event_record(
        action="status.startup",
        crud=Crud.CREATE,
        source=AuditSource.INTEGRATION,
        target=AuditTarget(type="StartupStatus", id=str(status.pk), name=severity),
        description=message[:1000],
        is_failure=severity == Severity.ERROR,
    )
    return status
