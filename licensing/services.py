"""
Writes for licensing: installing a signed license, console options, importing releases,
requesting and running update jobs, reaping jobs whose worker died, and startup status.
"""

import ctypes
import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audits.auditing import jsonable
from audits.context import AuditActor, AuditTarget, actor_for_user, audit_context
from audits.models import AuditSource, Crud
from audits.services import audit_event_record
from licensing import selectors
from licensing.choices import ACTIVE_JOB_STATES, FieldType, JobState, Severity
from licensing.license_files import LicenseFileError, VerifiedLicense, license_document_verify
from licensing.models import (
    ConsoleOption,
    Installation,
    License,
    LicenseField,
    Release,
    StartupStatus,
    UpdateJob,
    UpdateJobLogLine,
)
from licensing.options import DOCUMENTED_OPTIONS
from licensing.validators import option_value_error

# --- license -------------------------------------------------------------------------------


def _license_snapshot(license: License | None) -> dict[str, Any]:
    if license is None:
        return {}
    snapshot: dict[str, Any] = {
        key: jsonable(getattr(license, key))
        for key in (
            "license_id",
            "assignee",
            "release_channel",
            "license_type",
            "expiration_time",
            "expiration_policy",
            "signing_key_id",
        )
    }
    for field in license.fields.all():
        snapshot[f"fields.{field.field}"] = field.value
        snapshot[f"fields.{field.field}.type"] = field.type
        snapshot[f"fields.{field.field}.hide_from_customer"] = field.hide_from_customer
    return snapshot


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


@transaction.atomic
def license_install_verified(*, verified: VerifiedLicense, source: str = "file") -> License:
    """Install an already verified license, replacing the running one in place."""
    payload = verified.payload
    current = License.objects.select_for_update().order_by("-installed_at", "-pk").first()
    before = _license_snapshot(current)
    license = current or License()
    license.license_id = payload["license_id"].strip()
    license.assignee = payload.get("assignee", "") or ""
    license.release_channel = payload.get("release_channel") or "Stable"
    license.license_type = payload.get("license_type") or "paid"
    license.expiration_time = verified.expiration_time
    license.expiration_policy = payload.get("expiration_policy") or "ignore"
    license.signing_key_id = verified.key_id
    license.signed_document = verified.document
    license.installed_at = timezone.now()
    license.save()

    wanted = {item["field"]: (index, item) for index, item in enumerate(payload.get("fields", []))}
    for existing in license.fields.all():
        if existing.field not in wanted:
            existing.delete()
    existing_by_name = {f.field: f for f in license.fields.all()}
    for name, (index, item) in wanted.items():
        field = existing_by_name.get(name) or LicenseField(license=license, field=name)
        field.title = item.get("title", "") or ""
        field.type = item.get("type", FieldType.STRING)
        field.value = item.get("value")
        field.hide_from_customer = bool(item.get("hide_from_customer", False))
        field.position = index
        field.full_clean()
        field.save()

    changes = _diff(before, _license_snapshot(license))
    audit_event_record(
        action="license.replace" if current else "license.install",
        crud=Crud.UPDATE if current else Crud.CREATE,
        source=AuditSource.SITE,
        target=AuditTarget(type="License", id=str(license.pk), name=license.license_id),
        description=(
            f"License {license.license_id} installed from a signed {source} "
            f"(vendor key {verified.key_id}); {len(changes)} attribute(s) changed."
        ),
        audited_changes=changes,
    )
    return license


def license_install(*, data: bytes | str, source: str = "file") -> License:
    """
    Verify a signed license file and install it. On any problem raise LicenseFileError and
    leave the running license untouched; the rejection itself is audited.
    """
    try:
        verified = license_document_verify(data)
    except LicenseFileError as exc:
        audit_event_record(
            action="license.reject",
            crud=Crud.UPDATE,
            source=AuditSource.SITE,
            target=AuditTarget(type="License"),
            description=f"License file rejected: {exc}",
            is_failure=True,
        )
        raise
    return license_install_verified(verified=verified, source=source)


# --- console options -------------------------------------------------------------------------


def console_option_set(*, option: ConsoleOption, value: str) -> ConsoleOption:
    problem = option_value_error(option, value)
    if problem:
        raise ValueError(problem)
    option.value = value
    option.save()
    return option


def console_options_seed() -> list[str]:
    """Create the documented options that are missing, with their defaults. Never overwrites."""
    existing = set(ConsoleOption.objects.values_list("name", flat=True))
    created = []
    for spec in DOCUMENTED_OPTIONS:
        if spec.name in existing:
            continue
        ConsoleOption.objects.create(
            name=spec.name,
            type=spec.type,
            value=spec.default,
            default=spec.default,
            choices=spec.choices,
            masked=spec.masked,
            description=spec.description,
        )
        created.append(spec.name)
    return created


# --- releases ----------------------------------------------------------------------------------


class ManifestError(ValueError):
    pass


def _manifest_items(data: bytes | str) -> tuple[list[dict[str, Any]], str]:
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    try:
        document = json.loads(data)
    except json.JSONDecodeError:
        try:
            document = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise ManifestError(f"The manifest is neither JSON nor YAML: {exc}") from exc
    channel = "Stable"
    if isinstance(document, dict):
        channel = str(document.get("channel") or channel)
        document = document.get("releases")
    if not isinstance(document, list) or not document:
        raise ManifestError("The manifest needs a non-empty 'releases' list.")
    return document, channel


def _manifest_release(item: Any, index: int, channel: str) -> dict[str, Any]:
    where = f"releases[{index}]"
    if not isinstance(item, dict):
        raise ManifestError(f"{where} must be a mapping.")
    sequence = item.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise ManifestError(f"{where}.sequence must be a positive whole number.")
    version = item.get("version")
    if not isinstance(version, str | int | float) or not str(version).strip():
        raise ManifestError(f"{where}.version is required.")
    # Absent: "now" for a new release, unchanged for an existing one (re-imports are no-ops).
    release_date = item.get("release_date")
    if isinstance(release_date, str):
        parsed = parse_datetime(release_date)
        if parsed is None:
            raise ManifestError(f"{where}.release_date must be an RFC 3339 timestamp.")
        release_date = parsed
    if release_date is not None and not isinstance(release_date, datetime):
        raise ManifestError(f"{where}.release_date must be an RFC 3339 timestamp.")
    if release_date is not None and timezone.is_naive(release_date):
        release_date = timezone.make_aware(release_date, UTC)
    required = item.get("required", False)
    if not isinstance(required, bool):
        raise ManifestError(f"{where}.required must be true or false.")
    hook = item.get("hook") or {}
    if isinstance(hook, str | list):
        hook = {"command": hook}
    if not isinstance(hook, dict):
        raise ManifestError(f"{where}.hook must be a command or {{command, timeout_seconds}}.")
    command = hook.get("command", "")
    if isinstance(command, list):
        command = shlex.join(str(part) for part in command)
    timeout = hook.get("timeout_seconds", 300)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise ManifestError(f"{where}.hook.timeout_seconds must be a positive whole number.")
    return {
        "sequence": sequence,
        "version": str(version).strip(),
        "release_notes": str(item.get("release_notes", "") or ""),
        "release_date": release_date,
        "required": required,
        "channel": str(item.get("channel") or channel),
        "hook_command": str(command or ""),
        "hook_timeout_seconds": timeout,
    }


@transaction.atomic
def releases_import(*, data: bytes | str) -> tuple[int, int]:
    """Create or update releases from a manifest, all or nothing. Returns (created, updated)."""
    items, channel = _manifest_items(data)
    releases = [_manifest_release(item, i, channel) for i, item in enumerate(items)]
    sequences = [r["sequence"] for r in releases]
    if len(set(sequences)) != len(sequences):
        raise ManifestError("The manifest lists a sequence more than once.")
    created = updated = 0
    for values in releases:
        sequence = values.pop("sequence")
        release = Release.objects.filter(sequence=sequence).first()
        if values["release_date"] is None:
            values["release_date"] = release.release_date if release else timezone.now()
        if release is None:
            Release.objects.create(sequence=sequence, **values)
            created += 1
            continue
        changed = False
        for key, value in values.items():
            if getattr(release, key) != value:
                setattr(release, key, value)
                changed = True
        if changed:
            release.save()
            updated += 1
    return created, updated


# --- applying updates ----------------------------------------------------------------------------


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
    if license is None:
        raise UpdateForbidden("No license is installed; updates need a valid license.")
    if license.forbids_updates():
        raise UpdateForbidden(
            f"The license expired at {license.expiration_time:%Y-%m-%d %H:%M:%S} UTC and its "
            f"policy ({license.get_expiration_policy_display()}) forbids updates."
        )
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
        _log(
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
            target=_job_target(job),
            description=f"Update to {target.version} (sequence {target.sequence}) requested.",
            audited_changes={"plan": job.plan, "from_sequence": current, "to_sequence": sequence},
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from licensing.tasks import update_job_run

    result = update_job_run.enqueue(job_id=job_id)
    UpdateJob.objects.filter(pk=job_id).update(task_result_id=str(result.id))


def _job_target(job: UpdateJob) -> AuditTarget:
    return AuditTarget(type="UpdateJob", id=str(job.pk), name=f"update to {job.target_sequence}")


def _log(job: UpdateJob, message: str, *, progress: int | None = None) -> None:
    # Each line commits on its own (the worker runs in autocommit), so the admin page's poll
    # sees the log grow while the job runs.
    UpdateJobLogLine.objects.create(job=job, message=message)
    updates: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if progress is not None:
        updates["progress"] = max(0, min(100, progress))
    UpdateJob.objects.filter(pk=job.pk).update(**updates)


class HookFailed(Exception):
    pass


_PR_SET_PDEATHSIG = 1
# Looked up once, here: the forked child should only make the system call, not load symbols.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:  # runs in the forked child, before exec
    # Linux: the kernel SIGKILLs the hook when the worker that started it dies, even by
    # SIGKILL or OOM, so a dead worker leaves no hook running on (the job is failed by the
    # stale-job reaper). Processes the hook itself forks are not covered.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _run_hook(job: UpdateJob, release: Release) -> None:
    args = shlex.split(release.hook_command)
    env = {
        **os.environ,
        "RELEASE_SEQUENCE": str(release.sequence),
        "RELEASE_VERSION": release.version,
        "UPDATE_JOB_ID": str(job.pk),
    }
    _log(job, f"Running hook: {release.hook_command} (timeout {release.hook_timeout_seconds}s)")
    try:
        process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=settings.BASE_DIR,
            start_new_session=True,  # so a timeout kills the hook's children too
            preexec_fn=_die_with_parent,
        )
    except OSError as exc:
        raise HookFailed(f"Hook could not start: {exc}") from exc

    lines: queue.Queue[str] = queue.Queue()

    def pump():
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + release.hook_timeout_seconds
    last_beat = 0.0

    def drain():
        while not lines.empty():
            _log(job, f"  | {lines.get()}")

    while process.poll() is None:
        drain()
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            drain()
            raise HookFailed(
                f"Hook timed out after {release.hook_timeout_seconds}s and was killed."
            )
        if time.monotonic() - last_beat >= 1:
            UpdateJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
            last_beat = time.monotonic()
        time.sleep(0.1)
    reader.join(timeout=2)
    drain()
    if process.returncode != 0:
        raise HookFailed(f"Hook exited with status {process.returncode}.")


DEFAULT_STEPS = ("Checking the release", "Pulling images", "Migrating", "Restarting services")


def update_job_execute(*, job_id: int) -> str:
    """Run a queued job (called by the task). Returns the final state."""
    now = timezone.now()
    claimed = UpdateJob.objects.filter(pk=job_id, state=JobState.QUEUED).update(
        state=JobState.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker_host=socket.gethostname()[:255],
        worker_pid=os.getpid(),
    )
    if not claimed:
        return "not queued"
    job = UpdateJob.objects.select_related("requested_by").get(pk=job_id)
    actor = (
        actor_for_user(job.requested_by)
        if job.requested_by
        else AuditActor(type="System", name=job.requested_by_name or "system")
    )
    with audit_context(actor=actor):
        audit_event_record(
            action="version.apply.start",
            crud=Crud.UPDATE,
            source=AuditSource.SYSTEM,
            target=_job_target(job),
            description=f"Update job #{job.pk} started on {job.worker_host} (pid {job.worker_pid}).",
        )
        try:
            _apply_releases(job)
        except Exception as exc:
            _job_fail(job, str(exc) or exc.__class__.__name__)
            return JobState.FAILED
    return JobState.SUCCEEDED


def _apply_releases(job: UpdateJob) -> None:
    releases = {r.sequence: r for r in Release.objects.filter(sequence__in=job.plan)}
    missing = [s for s in job.plan if s not in releases]
    if missing:
        raise UpdateError(f"Releases {missing} were deleted after the job was queued.")
    delay = float(getattr(settings, "UPDATE_STEP_DELAY_SECONDS", 0) or 0)
    steps_per_release = len(DEFAULT_STEPS) + 1
    total = steps_per_release * len(job.plan)
    done = 0
    _log(job, f"Started on {job.worker_host} (pid {job.worker_pid}).", progress=1)
    for sequence in job.plan:
        release = releases[sequence]
        _log(job, f"Applying {release.version} (sequence {release.sequence})...")
        for step in DEFAULT_STEPS:
            if delay:
                time.sleep(delay)
            done += 1
            _log(job, f"{release.version}: {step}", progress=int(done * 99 / total))
        if release.hook_command:
            _run_hook(job, release)
        done += 1
        _log(job, f"{release.version} applied.", progress=int(done * 99 / total))

    target = releases[job.plan[-1]]
    with transaction.atomic():
        installation = Installation.objects.select_for_update().get(pk=1)
        previous = installation.current_release
        installation.current_release = target
        installation.install_date = timezone.now()
        installation.save()
        finished = timezone.now()
        UpdateJob.objects.filter(pk=job.pk).update(
            state=JobState.SUCCEEDED, progress=100, finished_at=finished, heartbeat_at=finished
        )
        UpdateJobLogLine.objects.create(
            job=job, message=f"Now running {target.version} (sequence {target.sequence})."
        )
        audit_event_record(
            action="version.apply.succeed",
            crud=Crud.UPDATE,
            source=AuditSource.SYSTEM,
            target=_job_target(job),
            associated=AuditTarget(type="Installation", id="1"),
            description=f"Updated to {target.version} (sequence {target.sequence}).",
            audited_changes={
                "release_sequence": [previous.sequence if previous else None, target.sequence],
                "version": [previous.version if previous else None, target.version],
            },
        )


def _job_fail(job: UpdateJob, reason: str, *, only_if_running: bool = True) -> bool:
    """Mark the job failed (the current version is untouched). False if it already finished."""
    finished = timezone.now()
    jobs = UpdateJob.objects.filter(pk=job.pk)
    if only_if_running:
        jobs = jobs.filter(state__in=ACTIVE_JOB_STATES)
    if not jobs.update(state=JobState.FAILED, error=reason[:2000], finished_at=finished):
        return False
    UpdateJobLogLine.objects.create(job=job, message=f"FAILED: {reason}")
    UpdateJobLogLine.objects.create(job=job, message="The current version was left unchanged.")
    audit_event_record(
        action="version.apply.fail",
        crud=Crud.UPDATE,
        source=AuditSource.SYSTEM,
        target=_job_target(job),
        description=f"Update job #{job.pk} failed: {reason}",
        is_failure=True,
    )
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def update_jobs_fail_stale(*, now=None) -> list[int]:
    """
    Fail running jobs whose worker died: no heartbeat for UPDATE_JOB_STALE_SECONDS, or, on
    this host, a worker process that no longer exists. Queued jobs whose task already
    finished (it crashed before claiming the job) are failed too.
    """
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    horizon = now - timedelta(seconds=settings.UPDATE_JOB_STALE_SECONDS)
    hostname = socket.gethostname()[:255]
    failed = []
    for job in UpdateJob.objects.filter(state__in=ACTIVE_JOB_STATES):
        reason = ""
        if job.state == JobState.RUNNING:
            if job.heartbeat_at is None or job.heartbeat_at < horizon:
                reason = (
                    f"The worker on {job.worker_host} (pid {job.worker_pid}) stopped reporting "
                    f"for over {settings.UPDATE_JOB_STALE_SECONDS}s; it is presumed dead."
                )
            elif job.worker_host == hostname and job.worker_pid and not _pid_alive(job.worker_pid):
                reason = f"The worker process {job.worker_pid} on {hostname} died mid-update."
        elif job.task_result_id:
            task = DBTaskResult.objects.filter(pk=job.task_result_id).first()
            if task is not None and task.finished_at is not None:
                reason = "The update task ended without running the job."
        with audit_context():
            if reason and _job_fail(job, reason):
                failed.append(job.pk)
    return failed


# --- status ---------------------------------------------------------------------------------------


def startup_status_report(*, message: str, severity: str = Severity.INFO) -> StartupStatus:
    from audits.context import current_audit_context

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
