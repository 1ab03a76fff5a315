import uuid

from django.conf import settings
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


# The tenancy every install starts with (Retraced's project -> environment -> group): events
# posted through the Replicated Audit API and the site's own events belong here.
DEFAULT_PROJECT_ID = "default"
# The default project's hash chain, which also holds every event stored before each project
# had its own (migration 0023).
DEFAULT_CHAIN = 1
DEFAULT_ENVIRONMENT_ID = "production"
TENANCY_ID_MAX = 64


class Project(models.Model):
    """
    A Retraced project: the vendor application whose events these are. The id is what
    clients put in their paths (`/publisher/v1/project/<id>/event`), so it never changes.
    """

    id = models.SlugField(primary_key=True, max_length=TENANCY_ID_MAX)
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or self.id


class Environment(models.Model):
    """
    One of a project's environments (production, staging): events, API tokens and viewer
    tokens each belong to one. `slug` is the id events and tokens carry, unique in its project.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="environments")
    slug = models.SlugField(max_length=TENANCY_ID_MAX)
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["project_id", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["project", "slug"], name="audit_environment_slug_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.project_id}/{self.slug}"


class AuditEvent(models.Model):
    """
    One row per event, from every source, never updated or deleted (PostgreSQL triggers
    enforce it; `audits_expire` is the one sanctioned deletion). Columns are the union of
    Foreman's audit record, the Replicated Audit API and Retraced's event model; Foreman's
    user_* and auditable_* are rendered from actor_* and target_*, which hold them once.

    `seq`, `prev_hash` and `hash` form the tamper-evident chain (audits.chain). They are NULL
    while the event is pending: committed by single-event ingest, not yet linked (the worker
    links it within about a second; the trigger allows exactly that one UPDATE).
    """

    # The chain the event links into: its project's (`AuditChainHead.id`). Chain 1 is the
    # default project's, and holds every event stored before chains split, whatever its
    # project. Set when stored (audits.chain.chain_append), never changed.
    chain = models.IntegerField(default=DEFAULT_CHAIN, db_default=DEFAULT_CHAIN, editable=False)
    # Unique within the chain by construction (one linker at a time under the chain head's
    # lock), not by a constraint: on the partitioned table (PostgreSQL, migration 0019) a
    # unique constraint would have to include received_at.
    seq = models.BigIntegerField(null=True, editable=False)
    source = models.CharField(max_length=12, choices=AuditSource.choices)
    action = models.CharField(max_length=255)
    crud = models.CharField(max_length=1, choices=Crud.choices, blank=True)
    # Replicated's name/title/description.
    name = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)

    actor_type = models.CharField(max_length=20, choices=ActorType.choices)
    actor_id = models.CharField(max_length=255, blank=True)
    actor_name = models.CharField(max_length=255, blank=True)
    actor_href = models.CharField(max_length=2000, blank=True)
    # Retraced's actor.fields and target.fields: string maps describing them. Hashed only
    # when non-empty (audits.chain.canonical), so events stored before these existed verify.
    actor_fields = models.JSONField(default=dict, blank=True)

    target_type = models.CharField(max_length=255, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    target_name = models.CharField(max_length=255, blank=True)
    target_href = models.CharField(max_length=2000, blank=True)
    target_fields = models.JSONField(default=dict, blank=True)

    associated_type = models.CharField(max_length=255, blank=True)
    associated_id = models.CharField(max_length=255, blank=True)
    associated_name = models.CharField(max_length=255, blank=True)

    # Tenancy: the project and environment (ids, not foreign keys: an event outlives neither,
    # and ingest stays one INSERT) and Retraced's group, the vendor's customer.
    project = models.CharField(max_length=TENANCY_ID_MAX, default=DEFAULT_PROJECT_ID)
    environment = models.CharField(max_length=TENANCY_ID_MAX, default=DEFAULT_ENVIRONMENT_ID)
    group_id = models.CharField(max_length=255, blank=True)
    group_name = models.CharField(max_length=255, blank=True)

    # Foreman/audited: per-record version, the diff and an optional comment.
    version = models.PositiveIntegerField(null=True, blank=True)
    audited_changes = models.JSONField(default=dict, blank=True)
    comment = models.TextField(blank=True)

    remote_address = models.GenericIPAddressField(null=True, blank=True)
    request_uuid = models.CharField(max_length=128, blank=True)

    is_failure = models.BooleanField(default=False)
    is_anonymous = models.BooleanField(default=False)
    fields = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    external_id = models.CharField(max_length=255, blank=True)
    component = models.CharField(max_length=255, blank=True)
    component_version = models.CharField(max_length=255, blank=True)

    # `created_at` is when the event happened (a client may say); `received_at` when we stored it.
    created_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    prev_hash = models.CharField(max_length=64, null=True, editable=False)
    hash = models.CharField(max_length=64, null=True, editable=False)
    # Events posted through Retraced's publisher API: its 32-hex id and the receipt hash the
    # client checked (retraced-js computeHash over that id), kept so the receipt can be shown
    # again. Empty for every other event; the chain covers both when set.
    retraced_id = models.CharField(max_length=32, blank=True, editable=False)
    receipt_hash = models.CharField(max_length=64, blank=True, editable=False)

    # Foreman's taxable_taxonomies: copied from what the event audits when it is recorded
    # (audits/foreman/auditing.py), so a host that moves later does not rewrite its history.
    # Derived data, outside the hash chain.
    locations = models.ManyToManyField(
        "Location", blank=True, related_name="audit_events", through="AuditEventLocation"
    )
    organizations = models.ManyToManyField(
        "Organization",
        blank=True,
        related_name="audit_events",
        through="AuditEventOrganization",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        # Every index is paid for on each ingest (a bulk COPY maintains all of them under the
        # chain lock), so each serves a read no other index does (issue 18 measured the set:
        # docs/benchmarks.md, docs/architecture.md "The audit trail's indexes"). No `db_index`
        # on the columns: on PostgreSQL it adds a second, varchar_pattern_ops index per
        # CharField that no query uses; a 3-valued `source` gains nothing from a B-tree. The
        # trigram index over the search document and Retraced's tenancy-led indexes are
        # PostgreSQL-only, in migrations 0020 and 0015.
        indexes = [
            # The equality filters users type most, each ending in the list's order: a value
            # reads only its own rows, newest first, and a value no row has reads nothing.
            models.Index(fields=["action", "-created_at", "-id"], name="audit_action_time_idx"),
            # `user = x` and `host = x` also test the type (Foreman's typed references): last in
            # the key, so a count of their matches never reads the table; so is the action, for
            # "user + action + time".
            models.Index(
                fields=["actor_name", "-created_at", "-id", "actor_type", "action"],
                name="audit_actor_time_idx",
            ),
            models.Index(
                fields=["target_name", "-created_at", "-id", "target_type"],
                name="audit_target_name_time_idx",
            ),
            models.Index(fields=["group_name", "-created_at", "-id"], name="audit_group_time_idx"),
            models.Index(fields=["request_uuid"], name="audit_request_uuid_idx"),
            # A record's audits (a host's, newest first) and its next version (the largest,
            # read from the index alone).
            models.Index(
                fields=["target_type", "target_id", "-created_at", "-id", "version"],
                name="audit_target_idx",
            ),
            models.Index(fields=["-created_at", "-id"], name="audit_created_desc_idx"),
            # `actor_id = x` (Foreman) and Retraced's `actor.id:x`, whose tenancy is in the key:
            # its exact totalCount is an index-only scan.
            models.Index(
                fields=["actor_id", "-created_at", "-id", "project", "environment"],
                name="audit_actor_id_time_idx",
            ),
            # Retraced's scope: every viewer and enterprise search is one group's, newest first;
            # with crud and action in the key, the viewer's count (reads hidden), with or
            # without `action:x`, is an index-only scan of the group's entries.
            models.Index(
                fields=[
                    "project",
                    "environment",
                    "group_id",
                    "-created_at",
                    "-id",
                    "crud",
                    "action",
                ],
                name="audit_tenant_group_action_idx",
            ),
            models.Index(fields=["chain", "seq"], name="audit_chain_seq_idx"),
            # The pending events the linker picks up, in id order; tiny (rows leave it fast).
            models.Index(
                fields=["id"], name="audit_pending_idx", condition=models.Q(seq__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        who = self.actor_name or self.actor_type
        what = f" {self.target_type} {self.target_name or self.target_id}".rstrip()
        return f"{self.action} by {who}{what}"


class AuditChainHead(models.Model):
    """
    One chain per project: the row every appender to the chain locks. It serialises the
    chain's links (no gaps, no forks) and carries the last link, so appending never scans the
    event table; chains of different projects link at the same time. Row 1 is the default
    project's chain. A project's row is made with its first event, at seq 0.
    """

    id = models.PositiveIntegerField(primary_key=True, editable=False)
    project = models.CharField(max_length=TENANCY_ID_MAX, unique=True, editable=False)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"chain {self.id} ({self.project}) head at {self.last_seq}"


class AuditCheckpoint(models.Model):
    """
    Written when retention removes a prefix of the chain: the last removed link, so the
    remaining events still verify from a known hash.
    """

    chain = models.IntegerField(default=DEFAULT_CHAIN, db_default=DEFAULT_CHAIN)
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    removed_count = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["chain", "-seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_checkpoint_chain_seq")
        ]

    def __str__(self) -> str:
        return f"checkpoint of chain {self.chain} at {self.seq}"


# Foreman's auditable_type names for hosts, locations and organizations: the types their
# audit events are recorded under (Host::* is folded into Host::Base, as Foreman records every
# host type). The Foreman API audits these models under them; the search field map speaks them.
HOST_TYPE = "Host::Base"
LOCATION_TYPE = "Location"
ORGANIZATION_TYPE = "Organization"
TAXONOMY_TYPES = frozenset({HOST_TYPE, LOCATION_TYPE, ORGANIZATION_TYPE})


class Taxonomy(models.Model):
    """Foreman's locations and organizations: the context `location_id`/`organization_id` select."""

    name = models.CharField(max_length=255, unique=True)
    title = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True, null=True)

    class Meta:
        abstract = True
        ordering = ["title", "name"]

    def __str__(self) -> str:
        return self.title or self.name

    def save(self, *args, **kwargs):
        # Foreman's title is the nested path; ours are flat, so it defaults to the name.
        self.title = self.title or self.name
        super().save(*args, **kwargs)


class Location(Taxonomy):
    pass


class Organization(Taxonomy):
    pass


class AuditEventLocation(models.Model):
    # No database constraint: a foreign key cannot point into the partitioned event table
    # (migration 0019). Events are never deleted but by retention, which deletes their links.
    auditevent = models.ForeignKey(AuditEvent, on_delete=models.DO_NOTHING, db_constraint=False)
    location = models.ForeignKey(Location, on_delete=models.DB_CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["auditevent", "location"], name="audit_location_uniq")
        ]

    def __str__(self) -> str:
        return f"event {self.auditevent_id} in location {self.location_id}"


class AuditEventOrganization(models.Model):
    auditevent = models.ForeignKey(AuditEvent, on_delete=models.DO_NOTHING, db_constraint=False)
    organization = models.ForeignKey(Organization, on_delete=models.DB_CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["auditevent", "organization"], name="audit_organization_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"event {self.auditevent_id} in organization {self.organization_id}"


class Host(models.Model):
    """A managed machine, audited as Foreman's `Host::Base`; its audits are /api/hosts/:id/audits."""

    name = models.CharField(max_length=255, unique=True, help_text="Fully qualified name.")
    ip = models.GenericIPAddressField(null=True, blank=True)
    mac = models.CharField(max_length=17, blank=True)
    comment = models.TextField(blank=True)
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT)
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AuditIdempotencyKey(models.Model):
    """
    An `Idempotency-Key` seen on the ingest API, kept AUDIT_IDEMPOTENCY_TTL_HOURS (24 h): the
    first request's result, replayed for a retry with the same key and body. The unique
    constraint is what makes two racing retries safe: the second insert waits for the first
    transaction and then fails, and reads the stored result.
    """

    owner = models.CharField(max_length=128)  # keys are scoped per caller (token, user)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of endpoint + canonical body
    status_code = models.PositiveSmallIntegerField(default=0)
    response_body = models.TextField(blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="audit_idempotency_owner_key")
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"


class AuditJobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_AUDIT_JOB_STATES = (AuditJobState.QUEUED, AuditJobState.RUNNING)


class AuditJob(models.Model):
    """
    Work over the whole trail that outlasts a request (audits.jobs): queued by a request,
    run by the worker on the `audits` queue, its progress read by the page or API that
    started it. Only the worker that claimed a job (`worker_id`) moves it on, and the reaper
    fails a job whose worker stopped beating, so none stays running forever.
    """

    state = models.CharField(
        max_length=10, choices=AuditJobState.choices, default=AuditJobState.QUEUED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The actor as the trail names it (a user or an API token), kept if the user goes.
    requested_by_name = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)
    worker_id = models.CharField(max_length=64, blank=True)
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    task_result_id = models.CharField(max_length=64, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-pk"]

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_AUDIT_JOB_STATES


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"


class AuditExport(AuditJob):
    """A CSV or JSON Lines file of the audit changelist as filtered, written by the worker."""

    format = models.CharField(max_length=5, choices=ExportFormat.choices)
    # The changelist's query string (filters, search, ordering): the worker rebuilds the
    # list from it exactly as the admin showed it.
    query = models.TextField(blank=True)
    rows_written = models.BigIntegerField(default=0)
    rows_estimate = models.BigIntegerField(null=True, blank=True)
    # The finished file's name inside AUDIT_EXPORT_DIR; empty until it is complete.
    file_name = models.CharField(max_length=200, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta(AuditJob.Meta):
        verbose_name = "audit export"

    def __str__(self) -> str:
        return f"Audit export #{self.pk} ({self.format}, {self.state})"

    @property
    def download_name(self) -> str:
        return f"audit-events-{self.created_at:%Y%m%dT%H%M%SZ}.{self.format}"


class AuditVerification(AuditJob):
    """One walk of the hash chain (audits.chain.audit_chain_verify), run by the worker."""

    checked = models.BigIntegerField(default=0)
    total_estimate = models.BigIntegerField(null=True, blank=True)
    # VerifyResult.as_dict() once it finished; null while queued or running, or if it failed.
    result = models.JSONField(null=True, blank=True)

    class Meta(AuditJob.Meta):
        verbose_name = "audit chain verification"

    def __str__(self) -> str:
        return f"Chain verification #{self.pk} ({self.state})"


# --- Retraced: viewer tokens and sessions, the Enterprise IT API, saved exports -----------
# The rows behind Retraced's embeddable viewer and its customers' SIEM pulls (the peer
# protocol is audits/retraced/). Every row carries the project, environment and group it is
# scoped to: a viewer session or an enterprise token only ever reaches its own group's events.

VIEW_LOG_ACTION_DEFAULT = "audit.log.view"


def retraced_object_id() -> str:
    """Retraced's id form (32 lowercase hex), for the rows its clients name in paths."""
    return uuid.uuid4().hex


class RetracedViewerDescriptor(models.Model):
    """
    What a viewer token (`GET /publisher/v1/project/<pid>/viewertoken`) grants: one group's
    log, seen as one of the vendor's customers (`actor_id`), optionally one target's only.
    Only the SHA-256 of the token is stored. The token is exchanged for a viewer session
    within RETRACED_VIEWER_TOKEN_SECONDS of `created_at`; the session carries these claims.
    """

    digest = models.CharField(max_length=64, unique=True, editable=False)
    project = models.CharField(max_length=TENANCY_ID_MAX)
    environment = models.CharField(max_length=TENANCY_ID_MAX)
    group_id = models.CharField(max_length=255)
    actor_id = models.CharField(max_length=255, blank=True)
    is_admin = models.BooleanField(default=False)
    target_id = models.CharField(max_length=255, blank=True)
    view_log_action = models.CharField(max_length=255, default=VIEW_LOG_ACTION_DEFAULT)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "Retraced viewer token"

    def __str__(self) -> str:
        return f"viewer of {self.project}/{self.environment} group {self.group_id}"


class RetracedViewerRevocation(models.Model):
    """
    `DELETE /viewer/v1/project/<pid>/group/<gid>/actor/<aid>/viewersessions`: every viewer
    session of that actor in that group issued before `revoked_at` is dead. Kept only as long
    as such a session could live (RETRACED_VIEWER_SESSION_SECONDS).
    """

    project = models.CharField(max_length=TENANCY_ID_MAX)
    environment = models.CharField(max_length=TENANCY_ID_MAX)
    group_id = models.CharField(max_length=255)
    actor_id = models.CharField(max_length=255)
    revoked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "environment", "group_id", "actor_id"],
                name="audit_viewer_revocation_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"sessions of {self.actor_id} in group {self.group_id} revoked"


class RetracedEnterpriseToken(models.Model):
    """
    An Enterprise IT API ("eitapi") token: a customer's SIEM reads its group's events with
    it (`Authorization: token=<secret>`). In Retraced the token's id is the secret, and its
    logs viewer lists tokens by it, so the secret must be readable again: it is stored sealed
    (Fernet under a key derived from SECRET_KEY, audits.retraced.viewer_selectors), never in
    clear, and found by its SHA-256 `digest`. `id` is public: the audit trail names the token
    by it. A token sealed under a key the site no longer has (or created before 0017) still
    has its id, its digest and its group: it is listed as unreadable and can be deleted.
    """

    id = models.CharField(
        primary_key=True, max_length=32, default=retraced_object_id, editable=False
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    sealed_secret = models.TextField(default="", editable=False)
    display_name = models.CharField(max_length=255)
    project = models.CharField(max_length=TENANCY_ID_MAX)
    environment = models.CharField(max_length=TENANCY_ID_MAX)
    group_id = models.CharField(max_length=255)
    view_log_action = models.CharField(max_length=255, default=VIEW_LOG_ACTION_DEFAULT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "Retraced enterprise token"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["project", "environment", "group_id"], name="audit_eitapi_group_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.id[:7]}…)"

    @property
    def access_actor_id(self) -> str:
        """The actor its uses are recorded as: Retraced's `enterprise:<first 7 characters>`."""
        return f"enterprise:{self.id[:7]}"


class RetracedSavedExport(models.Model):
    """A viewer's saved CSV export: Retraced's query descriptor (`body`), re-run when rendered."""

    id = models.CharField(
        primary_key=True, max_length=32, default=retraced_object_id, editable=False
    )
    project = models.CharField(max_length=TENANCY_ID_MAX)
    environment = models.CharField(max_length=TENANCY_ID_MAX)
    group_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    body = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    saved_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-saved_at", "id"]
        indexes = [
            models.Index(
                fields=["project", "environment", "group_id", "-saved_at"],
                name="audit_saved_export_group_idx",
            )
        ]

    def __str__(self) -> str:
        return self.name


class RetracedEnterpriseSavedSearch(models.Model):
    """An enterprise client's search template: actions, actor ids and a start time."""

    id = models.CharField(
        primary_key=True, max_length=32, default=retraced_object_id, editable=False
    )
    name = models.CharField(max_length=255)
    project = models.CharField(max_length=TENANCY_ID_MAX)
    environment = models.CharField(max_length=TENANCY_ID_MAX)
    group_id = models.CharField(max_length=255)
    actions = models.JSONField(default=list, blank=True)
    actor_ids = models.JSONField(default=list, blank=True)
    start = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return self.name


class RetracedEnterpriseActiveSearch(models.Model):
    """
    A persistent cursor over a saved search, oldest first: `next_token` is the token the
    client must present to get the page after the last event it was sent, which is
    (`after_created_at`, `after_event_id`).
    """

    id = models.CharField(
        primary_key=True, max_length=32, default=retraced_object_id, editable=False
    )
    saved_search = models.ForeignKey(
        RetracedEnterpriseSavedSearch, on_delete=models.CASCADE, related_name="active_searches"
    )
    project = models.CharField(max_length=TENANCY_ID_MAX)
    environment = models.CharField(max_length=TENANCY_ID_MAX)
    group_id = models.CharField(max_length=255)
    next_token = models.CharField(max_length=32, blank=True)
    after_created_at = models.DateTimeField(null=True, blank=True)
    after_event_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"active search {self.id} of {self.saved_search_id}"


class AuditEventHourlyCount(models.Model):
    """
    How many events of one source happened in one hour (`created_at`, UTC), maintained by the
    roll-up job (audits/counters.py) so the dashboard's charts never scan the event table.
    """

    hour = models.DateTimeField()
    source = models.CharField(max_length=12, choices=AuditSource.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["hour", "source"]
        constraints = [
            models.UniqueConstraint(fields=["hour", "source"], name="audit_hourly_count_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.source}: {self.count}"


class AuditScopeCount(models.Model):
    """
    How many events one Retraced scope holds, per crud: (project, environment, group, crud),
    maintained with the hourly counts by the same roll-up under the same watermark
    (audits/counters.py), so the logs viewer's opening `totalCount` (its group's events,
    reads hidden) reads a few of these rows and the tail the roll-up has not reached.
    """

    project = models.CharField(max_length=TENANCY_ID_MAX)
    environment = models.CharField(max_length=TENANCY_ID_MAX)
    group_id = models.CharField(max_length=255, blank=True)
    crud = models.CharField(max_length=1, choices=Crud.choices, blank=True)
    count = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["project", "environment", "group_id", "crud"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "environment", "group_id", "crud"],
                name="audit_scope_count_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.environment}/{self.group_id or '-'} {self.crud or '-'}: {self.count}"


class AuditCountWatermark(models.Model):
    """
    One row per chain (its id is the chain's), saying up to which position (`seq`) of the
    chain events are in the hourly and scope counts. Written in the roll-up's transaction, so
    counts and watermark move together.
    """

    id = models.PositiveIntegerField(primary_key=True, default=1, editable=False)
    seq = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"counted through {self.seq}"
