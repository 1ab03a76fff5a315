"""
Requesting an update: an apply is checked against the license, the running version and any
active job, queued as an UpdateJob and handed to the worker once it commits. Running it is
licensing.update_jobs' job (through licensing.tasks).
"""

from django.db import IntegrityError, transaction

from audits.context import actor_for_user
from audits.models import AuditSource, Crud
from audits.services import audit_event_record
from licensing import selectors
from licensing.choices import ACTIVE_JOB_STATES
from licensing.models import Installation, Release, UpdateJob
from licensing.tasks import update_job_run
from licensing.update_jobs import update_job_log, update_job_target


class UpdateError(Exception):
    """Base of the reasons an apply is refused; `status` is the HTTP status it maps to."""

    status = 400


class UpdateForbidden(UpdateError):
    status = 403


class ReleaseNotFound(UpdateError):
    status = 404


class UpdateConflict(UpdateError):
    status = 409


def _requester_name(user) -> str:
    return actor_for_user(user).name if user is not None else "system"


def update_apply_request(*, sequence: int, user=None) -> UpdateJob:
    """
    Queue a job applying releases up to and including `sequence`. The Installation row is
    locked for the check-and-insert, and a partial unique constraint admits one active job,
    so two concurrent requests never both succeed.
    """
    license = selectors.license_current()
    refusal = selectors.license_update_refusal(license=license)
    if refusal:
        raise UpdateForbidden(refusal)
    selectors.installation_get()
    with transaction.atomic():
        installation = Installation.objects.select_for_update().get(pk=1)
        candidates = selectors.releases_on_channel(license=license)
        target = candidates.filter(sequence=sequence).first()
        if target is None:
            raise ReleaseNotFound(
                f"No release with sequence {sequence} on channel {license.release_channel!r}."
            )
        current = (
            Release.objects.filter(pk=installation.current_release_id)
            .values_list("sequence", flat=True)
            .first()
            or 0
        )
        if sequence <= current:
            raise UpdateConflict(
                f"Sequence {sequence} is not newer than the running sequence {current}."
            )
        active = UpdateJob.objects.filter(state__in=ACTIVE_JOB_STATES).first()
        if active is not None:
            raise UpdateConflict(
                f"Update job #{active.pk} (to sequence {active.target_sequence}) is already "
                f"{active.state}; wait for it to finish."
            )
        plan = selectors.update_plan(target=target, current=current, candidates=candidates)
        try:
            with transaction.atomic():
                job = UpdateJob.objects.create(
                    target_release=target,
                    target_sequence=target.sequence,
                    from_sequence=current or None,
                    plan=[r.sequence for r in plan],
                    requested_by=user if getattr(user, "pk", None) else None,
                    requested_by_name=_requester_name(user),
                )
        except IntegrityError as exc:
            raise UpdateConflict("Another update is already queued or running.") from exc
        skipped = (
            candidates.filter(sequence__gt=current, sequence__lt=target.sequence, required=False)
            .order_by("sequence")
            .values_list("sequence", flat=True)
        )
        update_job_log(
            job,
            f"Queued by {job.requested_by_name}: apply "
            + ", ".join(f"{r.version} ({r.sequence})" for r in plan)
            + (f"; skipping optional {', '.join(map(str, skipped))}" if skipped else "")
            + ".",
        )
        audit_event_record(
            action="version.apply.request",
            crud=Crud.CREATE,
            source=AuditSource.SITE,
            target=update_job_target(job),
            description=f"Update to {target.version} (sequence {target.sequence}) requested.",
            audited_changes={"plan": job.plan, "from_sequence": current, "to_sequence": sequence},
        )
        transaction.on_commit(lambda: _update_job_enqueue(job_id=job.pk))
    return job


def _update_job_enqueue(*, job_id: int) -> None:
    # The task result's id is kept so the reaper can tell when the worker's run ended.
    result = update_job_run.enqueue(job_id=job_id)
    UpdateJob.objects.filter(pk=job_id).update(task_result_id=str(result.id))
