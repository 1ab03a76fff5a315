import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

from integration_site.scopes import Scope, permission_codename


def api_token_digest(secret: str) -> str:
    """Tokens are random 256-bit strings, so a fast unsalted hash is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """
    A bearer credential for an integration. Only the SHA-256 of the secret is stored; the
    secret is shown once at creation. `prefix` (the first characters) lets admins tell
    tokens apart without revealing them.
    """

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, help_text="Scopes this token may use.")
    # The tenancy the token acts in (Retraced's project and environment, defined by the audits
    # app; the platform only carries the ids): a key used on another project's path is refused.
    project = models.CharField(
        max_length=64, default="default", help_text="The project this token belongs to."
    )
    environment = models.CharField(
        max_length=64,
        default="production",
        help_text="The project's environment this token belongs to.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="api_tokens",
        help_text="Optional: the person responsible; actions are audited as the token.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API token"
        ordering = ["name"]
        permissions = [(permission_codename(s.value), f"API scope {s.value}") for s in Scope]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, *, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now


class WorkerHeartbeat(models.Model):
    """Each task worker checks in here; /health reports a worker that has gone quiet."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    # Whether this worker serves the default queue and runs the periodic jobs and tick hooks
    # (results, monitors, the audit chain): /health needs one of these. A worker of a
    # dedicated queue only (update jobs) is False.
    periodic = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.worker_id} on {self.hostname}"


class ScheduledJob(models.Model):
    """
    The next due time of each periodic task. Workers claim a due run with a conditional
    UPDATE, so two workers never enqueue the same run and a restart resumes the schedule.

    The lease fields say who is running the job now: a run that may outlast `every` holds
    the lease (integration_site.schedule.exclusive_run_lease), so the next run, claimed and
    enqueued on time, skips instead of overlapping it. Both are null while no run holds it.
    """

    name = models.CharField(max_length=200, primary_key=True)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)
    # A random token per run (host and pid first, for whoever reads the row): only the run
    # holding the lease may renew or release it.
    lease_owner = models.CharField(max_length=200, null=True, blank=True)
    # The lease lapses here unless renewed, so a worker killed mid-run (SIGKILL, power loss)
    # cannot block the job for good: the first run due after this time takes it over.
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class LoginFailure(models.Model):
    """
    One failed sign-in, kept for the lockout window (integration_site.lockout). Every
    password channel writes here: HTTP Basic, the admin's login page, and the Identity and
    Console sign-in APIs. Counting rows in the database (rather than a per-process cache)
    makes the lockout hold across every gunicorn worker.

    `remote_address` is the end user's address, or empty when it is not known (an
    application calling the Identity API for its users without stating theirs).
    """

    username = models.CharField(max_length=255)
    remote_address = models.CharField(max_length=64, blank=True)
    failed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["username", "remote_address", "failed_at"]),
            # The per-address cap counts an address's failures over every username.
            models.Index(fields=["remote_address", "failed_at"]),
        ]

    def __str__(self) -> str:
        where = self.remote_address or "an unstated address"
        return f"{self.username} from {where} at {self.failed_at:%Y-%m-%d %H:%M:%S}"
