"""
Audit work that outlasts a request: exports of the audit changelist and walks of the hash
chain. A request queues an AuditExport or AuditVerification (audits.background:
`audit_export_start`, `audit_verification_start`) and the worker runs it on the `audits` queue (audits.tasks), with
the worker's statement limit instead of a request's, writing its progress as it goes; the
admin's pages and `/audit/v1/verify/<id>` read it. The shape follows licensing's update jobs:
a conditional claim records the worker's id, every later state change is conditional on the
job still being that worker's, and the reaper fails a job whose worker stopped beating its
heartbeat, so no job stays `running` forever.

An export is written to `<AUDIT_EXPORT_DIR>/audit-export-<id>.<format>.part` and renamed to
its final name only once complete, so a download never sees half a file; the purge removes
finished files after AUDIT_EXPORT_RETENTION_HOURS.
"""

import os
import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils import timezone

from audits.chain import audit_chain_verify, chain_length_to_verify
from audits.context import AuditActor, AuditTarget, actor_for_user, audit_context
from audits.exports import export_csv, export_json_lines
from audits.models import (
    ACTIVE_AUDIT_JOB_STATES,
    AuditEvent,
    AuditExport,
    AuditJob,
    AuditJobState,
    AuditVerification,
    ExportFormat,
)
from integration_site.models import WorkerHeartbeat
from integration_site.replicas import primary_reads, replica_reads
from integration_site.schedule import pid_alive, worker_id_current

EXPORT_WRITERS: dict[str, Callable[[QuerySet], Iterator[str]]] = {
    ExportFormat.CSV: export_csv,
    ExportFormat.JSONL: export_json_lines,
}
# Lines a format writes before the first row (CSV's header), so the row count stays true.
_HEADER_LINES = {ExportFormat.CSV: 1, ExportFormat.JSONL: 0}
# Progress is written once per this many rows: often enough to see it move, rarely enough
# that the UPDATE costs nothing beside the rows.
EXPORT_PROGRESS_EVERY = 5000


def export_target(export: AuditExport) -> AuditTarget:
    return AuditTarget(type="AuditExport", id=str(export.pk), name=export.download_name)


class AuditJobTakenAway(Exception):
    """The job is no longer running under this worker (the reaper failed it): stop now."""


# --- The worker: claim, progress, finish --------------------------------------------------


def _claim[Job: (AuditExport, AuditVerification)](model: type[Job], job_id: int) -> Job | None:
    now = timezone.now()
    claimed = model.objects.filter(pk=job_id, state=AuditJobState.QUEUED).update(
        state=AuditJobState.RUNNING,
        started_at=now,
        progress_at=now,
        worker_id=worker_id_current(),
        worker_host=socket.gethostname()[:255],
        worker_pid=os.getpid(),
    )
    return model.objects.select_related("requested_by").get(pk=job_id) if claimed else None


def _owned(job: AuditJob) -> QuerySet:
    # Every change the worker makes after the claim is conditional on this, so a job the
    # reaper failed stays failed.
    return type(job).objects.filter(pk=job.pk, state=AuditJobState.RUNNING, worker_id=job.worker_id)


def _progress(job: AuditJob, **fields) -> None:
    if not _owned(job).update(progress_at=timezone.now(), **fields):
        raise AuditJobTakenAway(
            "The job stopped being this worker's while it ran (the stale-job reaper failed it)."
        )


def _job_fail(job: AuditJob, reason: str, *, worker_id: str | None = None) -> bool:
    """Mark an active job failed with its reason; False if it already finished (or, given
    `worker_id`, is another worker's now). An export's partial file goes with it."""
    jobs = type(job).objects.filter(pk=job.pk, state__in=ACTIVE_AUDIT_JOB_STATES)
    if worker_id is not None:
        jobs = jobs.filter(worker_id=worker_id)
    failed = jobs.update(
        state=AuditJobState.FAILED, error=reason[:2000], finished_at=timezone.now()
    )
    if failed and isinstance(job, AuditExport):
        export_files_remove(job)
    return bool(failed)


def _requester_actor(job: AuditJob) -> AuditActor:
    if job.requested_by is not None:
        return actor_for_user(job.requested_by)
    return AuditActor(type="System", name=job.requested_by_name or "system")


def export_path(export: AuditExport) -> Path:
    return Path(settings.AUDIT_EXPORT_DIR) / f"audit-export-{export.pk}.{export.format}"


def _part_path(export: AuditExport) -> Path:
    return export_path(export).with_name(export_path(export).name + ".part")


def export_files_remove(export: AuditExport) -> None:
    for path in (export_path(export), _part_path(export)):
        path.unlink(missing_ok=True)


def export_queryset(export: AuditExport) -> QuerySet:
    """
    The audit changelist as the requester saw it, rebuilt from its query string by the
    admin's own ChangeList (filters, search box, ordering), so the file holds exactly the
    rows the list showed and the request-time export wrote.
    """
    model_admin = admin.site.get_model_admin(AuditEvent)
    request = HttpRequest()
    request.method = "GET"
    request.path = reverse("admin:audits_auditevent_changelist")
    request.GET = QueryDict(export.query.removeprefix("?"))
    request.user = export.requested_by or AnonymousUser()
    return model_admin.get_changelist_instance(request).queryset


def audit_export_execute(*, export_id: int) -> str:
    """Write one queued export (called by the task). Returns the final state."""
    export = _claim(AuditExport, export_id)
    if export is None:
        return "not queued"
    with audit_context(actor=_requester_actor(export)):
        try:
            _export_write_from_replica(export)
        except Exception as exc:
            _job_fail(export, str(exc) or exc.__class__.__name__, worker_id=export.worker_id)
            return AuditJobState.FAILED
    return AuditJobState.SUCCEEDED


def _export_write_from_replica(export: AuditExport) -> None:
    """The rows may come from a replica (integration_site.replicas): an export may be a few
    seconds stale, and its long read is kept off the primary. One that fails under it (gone,
    or cancelling the read to replay) has the file written again from the primary."""
    try:
        with replica_reads() as reads:
            _export_write(export)
    except DatabaseError:
        if not reads.failed:
            raise
        with primary_reads():
            _export_write(export)


def _export_write(export: AuditExport) -> None:
    queryset = export_queryset(export)
    # Exact, and in the worker: its statement limit allows a COUNT the request could not.
    _progress(export, rows_estimate=queryset.order_by().count())
    part, final = _part_path(export), export_path(export)
    part.parent.mkdir(parents=True, exist_ok=True)
    header_lines = _HEADER_LINES[export.format]
    written = 0
    try:
        with part.open("w", encoding="utf-8", newline="") as out:
            # A server-side cursor read in chunks (audits.exports): memory stays flat.
            for number, line in enumerate(EXPORT_WRITERS[export.format](queryset), 1):
                out.write(line)
                written = number - header_lines
                if written > 0 and written % EXPORT_PROGRESS_EVERY == 0:
                    _progress(export, rows_written=written)
            out.flush()
            os.fsync(out.fileno())
        # Renamed only when complete and the job is still ours: a download never sees half
        # a file, and a job the reaper failed leaves no file behind.
        with transaction.atomic():
            finished = timezone.now()
            if not _owned(export).update(
                state=AuditJobState.SUCCEEDED,
                rows_written=max(written, 0),
                file_name=final.name,
                file_size=part.stat().st_size,
                finished_at=finished,
                progress_at=finished,
            ):
                raise AuditJobTakenAway(
                    "The job stopped being this worker's before it finished (the stale-job "
                    "reaper failed it)."
                )
            os.replace(part, final)
    finally:
        part.unlink(missing_ok=True)


def audit_verification_execute(*, verification_id: int) -> str:
    """Walk the chain for one queued verification (called by the task)."""
    job = _claim(AuditVerification, verification_id)
    if job is None:
        return "not queued"
    try:
        _progress(job, total_estimate=chain_length_to_verify())
        result = audit_chain_verify(progress=lambda checked: _progress(job, checked=checked))
        finished = timezone.now()
        if not _owned(job).update(
            state=AuditJobState.SUCCEEDED,
            checked=result.verified,
            result=result.as_dict(),
            finished_at=finished,
            progress_at=finished,
        ):
            raise AuditJobTakenAway("The job stopped being this worker's before it finished.")
    except Exception as exc:
        _job_fail(job, str(exc) or exc.__class__.__name__, worker_id=job.worker_id)
        return AuditJobState.FAILED
    return AuditJobState.SUCCEEDED


# --- Periodic: the reaper and the purge ---------------------------------------------------


def _stale_reason(job: AuditJob, *, now, hostname: str) -> str:
    if job.state == AuditJobState.RUNNING:
        # The worker's own heartbeat, beaten by a thread of its own: a job may spend minutes
        # in one statement (the cursor's first fetch) without writing progress, and is alive
        # as long as its worker is.
        horizon = now - timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS)
        beat = WorkerHeartbeat.objects.filter(worker_id=job.worker_id).first()
        if beat is None or beat.last_seen_at < horizon:
            return (
                f"The worker on {job.worker_host} (pid {job.worker_pid}) stopped reporting; it "
                "is presumed dead."
            )
        if (
            job.worker_host == hostname
            and job.worker_pid
            and job.worker_id != worker_id_current()
            and not pid_alive(job.worker_pid)
        ):
            return f"The worker process {job.worker_pid} on {hostname} died mid-job."
        return ""
    if job.task_result_id:
        from django_tasks_db.models import DBTaskResult

        task = DBTaskResult.objects.filter(pk=job.task_result_id).first()
        if task is not None and task.finished_at is not None:
            return "The task ended without running the job."
    return ""


def audit_jobs_fail_stale(*, now=None) -> list[str]:
    """Fail exports and verifications whose worker died; returns them as `<kind>:<id>`."""
    now = now or timezone.now()
    hostname = socket.gethostname()[:255]
    failed = []
    for model in (AuditExport, AuditVerification):
        for job in model.objects.filter(state__in=ACTIVE_AUDIT_JOB_STATES):
            reason = _stale_reason(job, now=now, hostname=hostname)
            # Conditional on the worker read above: a job claimed meanwhile is left alone.
            if reason and _job_fail(job, reason, worker_id=job.worker_id):
                failed.append(f"{model._meta.model_name}:{job.pk}")
    return failed


def audit_exports_purge(*, now=None) -> int:
    """Delete export files finished more than AUDIT_EXPORT_RETENTION_HOURS ago; the rows
    stay, marked purged, as the history of who exported what."""
    now = now or timezone.now()
    horizon = now - timedelta(hours=settings.AUDIT_EXPORT_RETENTION_HOURS)
    purged = 0
    for export in AuditExport.objects.filter(
        purged_at__isnull=True, finished_at__lt=horizon
    ).exclude(state__in=ACTIVE_AUDIT_JOB_STATES):
        export_files_remove(export)
        purged += AuditExport.objects.filter(pk=export.pk).update(purged_at=now)
    return purged


# --- Answers ------------------------------------------------------------------------------


def verification_as_dict(job: AuditVerification) -> dict:
    """The API's body for a verification job (also the admin page's context)."""

    def stamp(value):
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "id": job.pk,
        "state": job.state,
        "checked": job.checked,
        "total_estimate": job.total_estimate,
        "requested_by": job.requested_by_name,
        "created_at": stamp(job.created_at),
        "started_at": stamp(job.started_at),
        "finished_at": stamp(job.finished_at),
        "error": job.error or None,
        "result": job.result,
    }
