from django.db import models
from django.utils import timezone


class AuditSource(models.TextChoices):
    INTEGRATION = "integration", "Integration"  # posted by the application (Audit API)
    SITE = "site", "Site"  # a change made on this site: admin, API or management command
    SYSTEM = "system", "System"  # the site's own automation: monitors, engine, worker


class Crud(models.TextChoices):
    CREATE = "c", "Create"
    READ = "r", "Read"
    UPDATE = "u", "Update"
    DELETE = "d", "Delete"


class ActorType(models.TextChoices):
    USER = "User", "User"
    API_TOKEN = "ApiToken", "API token"
    INTEGRATION = "Integration", "Integration actor"
    ANONYMOUS = "Anonymous", "Anonymous"
    SYSTEM = "System", "System"


class AuditEvent(models.Model):
    """
    One row per event, from every source, never updated or deleted (PostgreSQL triggers
    enforce it; `audits_expire` is the one sanctioned deletion). Columns are the union of
    Foreman's audit record, the Replicated Audit API and Retraced's event model; Foreman's
    user_* and auditable_* are rendered from actor_* and target_*, which hold them once.

    `seq`, `prev_hash` and `hash` form the tamper-evident chain (audits.chain).
    """

    seq = models.BigIntegerField(unique=True, editable=False)
    source = models.CharField(max_length=12, choices=AuditSource.choices, db_index=True)
    action = models.CharField(max_length=255, db_index=True)
    crud = models.CharField(max_length=1, choices=Crud.choices, blank=True)
    # Replicated's name/title/description.
    name = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)

    actor_type = models.CharField(max_length=20, choices=ActorType.choices)
    actor_id = models.CharField(max_length=255, blank=True)
    actor_name = models.CharField(max_length=255, blank=True, db_index=True)
    actor_href = models.CharField(max_length=2000, blank=True)

    target_type = models.CharField(max_length=255, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    target_name = models.CharField(max_length=255, blank=True)
    target_href = models.CharField(max_length=2000, blank=True)

    associated_type = models.CharField(max_length=255, blank=True)
    associated_id = models.CharField(max_length=255, blank=True)
    associated_name = models.CharField(max_length=255, blank=True)

    group_id = models.CharField(max_length=255, blank=True)
    group_name = models.CharField(max_length=255, blank=True)

    # Foreman/audited: per-record version, the diff and an optional comment.
    version = models.PositiveIntegerField(null=True, blank=True)
    audited_changes = models.JSONField(default=dict, blank=True)
    comment = models.TextField(blank=True)

    remote_address = models.GenericIPAddressField(null=True, blank=True)
    request_uuid = models.CharField(max_length=128, blank=True, db_index=True)

    is_failure = models.BooleanField(default=False)
    is_anonymous = models.BooleanField(default=False)
    fields = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=255, blank=True)
    component = models.CharField(max_length=255, blank=True)
    component_version = models.CharField(max_length=255, blank=True)

    # `created_at` is when the event happened (a client may say); `received_at` when we stored it.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-version"], name="audit_target_idx"),
            models.Index(fields=["-created_at", "-id"], name="audit_created_desc_idx"),
            models.Index(fields=["actor_type", "actor_id"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        who = self.actor_name or self.actor_type
        what = f" {self.target_type} {self.target_name or self.target_id}".rstrip()
        return f"{self.action} by {who}{what}"


class AuditChainHead(models.Model):
    """
    The single row every appender locks: it serialises chain links (no gaps, no forks) and
    carries the last link, so appending never scans the event table.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"chain head at {self.last_seq}"


class AuditCheckpoint(models.Model):
    """
    Written when retention removes a prefix of the chain: the last removed link, so the
    remaining events still verify from a known hash.
    """

    seq = models.BigIntegerField(unique=True)
    hash = models.CharField(max_length=64)
    removed_count = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"checkpoint at {self.seq}"
