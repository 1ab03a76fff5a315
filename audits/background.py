"""
Starting audit work that outlasts a request (audits.jobs runs it in the worker): the admin's
export and verify buttons and `/audit/v1/verify` call these. Each job is handed to the worker
once its row commits.
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from audits.context import actor_for_user
from audits.jobs import EXPORT_WRITERS, export_target
from audits.models import (
    ACTIVE_AUDIT_JOB_STATES,
    AuditExport,
    AuditJob,
    AuditSource,
    AuditVerification,
    Crud,
)
from audits.services import audit_event_record
from audits.tasks import audit_export_run, audit_verification_run


def _requester(user) -> dict:
    # An API token acts as itself and is no account: only a real user is linked.
    account = user if isinstance(user, get_user_model()) else None
    return {"requested_by": account, "requested_by_name": actor_for_user(user).name[:200]}


def audit_export_start(*, user, fmt: str, query: str) -> AuditExport:
    """
    Queue an export of the audit changelist filtered by `query` (the changelist's own query
    string: filters, search and ordering). Recorded as `audit.export`, as the export itself
    was when it ran in the request.
    """
    if fmt not in EXPORT_WRITERS:
        raise ValueError(f"Unknown export format {fmt!r}.")
    with transaction.atomic():
        export = AuditExport.objects.create(format=fmt, query=query, **_requester(user))
        audit_event_record(
            action="audit.export",
            crud=Crud.READ,
            source=AuditSource.SITE,
            target=export_target(export),
            description=f"Exported the audit list as {fmt} ({query or 'no filter'})",
            metadata={"format": fmt, "query": query, "export_id": str(export.pk)},
        )
        transaction.on_commit(lambda: _enqueue(export))
    return export


def audit_verification_start(*, user) -> tuple[AuditVerification, bool]:
    """
    Queue a walk of the chain, or join the one already queued or running (its answer covers
    every event committed before it links the pending ones): repeated requests cannot pile
    up walks. Returns the job and whether it is new.
    """
    active = AuditVerification.objects.filter(state__in=ACTIVE_AUDIT_JOB_STATES).first()
    if active is not None:
        return active, False
    with transaction.atomic():
        job = AuditVerification.objects.create(**_requester(user))
        transaction.on_commit(lambda: _enqueue(job))
    return job, True


def _enqueue(job: AuditJob) -> None:
    if isinstance(job, AuditExport):
        result = audit_export_run.enqueue(export_id=job.pk)
    else:
        result = audit_verification_run.enqueue(verification_id=job.pk)
    # Kept so the reaper can tell a task that ended without running the job.
    type(job).objects.filter(pk=job.pk).update(task_result_id=str(result.id))
