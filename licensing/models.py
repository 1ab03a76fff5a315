"""
Licensing and updates: the running license and its typed fields, console options, releases,
the installation's current version, update jobs, and the application's startup status.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from audits.auditing import audited
from audits.context import AuditTarget
from licensing.choices import (
    ACTIVE_JOB_STATES,
    ExpirationPolicy,
    FieldType,
    JobState,
    LicenseType,
    OptionType,
    Severity,
)
from licensing.validators import field_value_error, option_value_error


def _new_installation_id() -> str:
    return uuid.uuid4().hex


@audited(
    exclude={"signed_document"},
    name_of=lambda license: license.license_id,
    type_name="License",
)
class License(models.Model):
    """
    The running license. There is at most one row: installing a signed file replaces it in
    place (see services.license.license_install), so the running license survives a rejected
    file.
    """

    license_id = models.CharField(max_length=100)
    assignee = models.CharField(max_length=200, blank=True)
    release_channel = models.CharField(max_length=100, default="Stable")
    license_type = models.CharField(
        max_length=10, choices=LicenseType.choices, default=LicenseType.PAID
    )
    expiration_time = models.DateTimeField(
        null=True, blank=True, help_text="Empty: the license never expires."
    )
    expiration_policy = models.CharField(
        max_length=20, choices=ExpirationPolicy.choices, default=ExpirationPolicy.IGNORE
    )
    signing_key_id = models.CharField(
        max_length=64, blank=True, help_text="Fingerprint of the vendor key that signed it."
    )
    # Kept verbatim so an operator can see exactly what was installed.
    signed_document = models.TextField(blank=True, editable=False)
    installed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "license"

    def __str__(self) -> str:
        return f"{self.license_id} ({self.assignee or 'unassigned'})"

    def is_expired(self, *, now=None) -> bool:
        return self.expiration_time is not None and self.expiration_time <= (now or timezone.now())

    def forbids_updates(self, *, now=None) -> bool:
        return self.expiration_policy != ExpirationPolicy.IGNORE and self.is_expired(now=now)


@audited(
    name_of=lambda f: f.field,
    type_name="LicenseField",
    associated_of=lambda f: AuditTarget(type="License", id=str(f.license_id)),
)
class LicenseField(models.Model):
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="fields")
    field = models.SlugField(max_length=100)
    title = models.CharField(max_length=200, blank=True)
    type = models.CharField(max_length=10, choices=FieldType.choices, default=FieldType.STRING)
    # Typed JSON: a number for Integer, true/false for Boolean, a string otherwise.
    value = models.JSONField(null=True, blank=True)
    hide_from_customer = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "field"]
        constraints = [
            models.UniqueConstraint(fields=["license", "field"], name="license_field_unique")
        ]

    def __str__(self) -> str:
        return self.field

    def clean(self) -> None:
        problem = field_value_error(self.type, self.value)
        if problem:
            raise ValidationError({"value": problem})


@audited(
    sensitive=lambda option: {"value", "default"} if option.masked else set(),
    name_of=lambda option: option.name,
    type_name="ConsoleOption",
)
class ConsoleOption(models.Model):
    """A console setting the application reads through GET /console/v1/option?name=."""

    name = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=10, choices=OptionType.choices, default=OptionType.STRING)
    value = models.TextField(blank=True)
    default = models.TextField(blank=True, editable=False)
    choices = models.JSONField(default=list, blank=True, help_text="Allowed values (choice).")
    masked = models.BooleanField(
        default=False, help_text="Masked in the admin and the audit trail."
    )
    description = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "console option"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        problem = option_value_error(self, self.value)
        if problem:
            raise ValidationError({"value": problem})


@audited(name_of=lambda r: f"{r.version} ({r.sequence})", type_name="Release")
class Release(models.Model):
    sequence = models.PositiveIntegerField(unique=True)
    version = models.CharField(max_length=100, help_text="Version label, e.g. 2.4.1.")
    release_notes = models.TextField(blank=True)
    release_date = models.DateTimeField(default=timezone.now)
    required = models.BooleanField(
        default=False, help_text="Required releases are never skipped when applying a later one."
    )
    channel = models.CharField(max_length=100, default="Stable")
    hook_command = models.TextField(
        blank=True,
        help_text="Optional command run when this release is applied (split like a shell "
        "line, not run through a shell). Non-zero exit fails the update.",
    )
    hook_timeout_seconds = models.PositiveIntegerField(default=300)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-sequence"]
        permissions = [("apply_update", "Can apply updates (causes downtime)")]

    def __str__(self) -> str:
        return f"{self.version} (sequence {self.sequence})"


class Installation(models.Model):
    """
    The singleton (pk=1) describing this install: its id and the version it runs. Its row is
    the lock every update apply takes (SELECT ... FOR UPDATE), so applies are serialized.
    """

    installation_id = models.CharField(max_length=64, default=_new_installation_id)
    current_release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    install_date = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"installation {self.installation_id}"

    @property
    def current_sequence(self) -> int:
        """The running release's sequence; 0 before any release is installed."""
        release = self.current_release
        return release.sequence if release is not None else 0


# Not @audited: its progress and heartbeat change every second. services/updates.py and
# update_jobs.py record the meaningful transitions (requested, started, succeeded, failed)
# as explicit audit events.
class UpdateJob(models.Model):
    target_release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="jobs")
    target_sequence = models.PositiveIntegerField()
    from_sequence = models.PositiveIntegerField(null=True, blank=True)
    # The release sequences this job applies, in order (required ones plus the target).
    plan = models.JSONField(default=list)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    requested_by_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    # The worker that claimed the job (integration_site.schedule.worker_id_current): only it
    # may move the job on, so a job the reaper failed never flips to succeeded.
    worker_id = models.CharField(max_length=64, blank=True)
    task_result_id = models.CharField(max_length=64, blank=True)
    # A constant column so the partial unique constraint below allows one active job only.
    apply_slot = models.CharField(max_length=10, default="apply", editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "update job"
        constraints = [
            models.UniqueConstraint(
                fields=["apply_slot"],
                condition=Q(state__in=["queued", "running"]),
                name="one_active_update_job",
                violation_error_message="Another update is already queued or running.",
            )
        ]

    def __str__(self) -> str:
        return f"Update job #{self.pk} to sequence {self.target_sequence} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_JOB_STATES


class UpdateJobLogLine(models.Model):
    job = models.ForeignKey(UpdateJob, on_delete=models.CASCADE, related_name="log_lines")
    logged_at = models.DateTimeField(default=timezone.now)
    message = models.TextField()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.message[:80]


class StartupStatus(models.Model):
    """What the application reported through PUT /status/v1/startup; the newest row is shown."""

    message = models.TextField()
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO)
    reported_at = models.DateTimeField(default=timezone.now, db_index=True)
    reported_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-reported_at", "-pk"]
        verbose_name = "startup status"
        verbose_name_plural = "startup statuses"

    def __str__(self) -> str:
        return f"[{self.severity}] {self.message[:60]}"
