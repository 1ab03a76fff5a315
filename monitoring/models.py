"""
Sensu 1.x's Redis registries as tables. Each model names the Redis keys it replaces, so the
event engine (monitoring/engine.py) reads like Sensu's lib/sensu/server/process.rb.
"""

import uuid
from typing import Any

from django.db import models
from django.utils import timezone

from audits.auditing import audited, is_secret_name
from audits.services import REDACTED as AUDIT_REDACTED
from monitoring.redaction import REDACTED, is_sensitive_key, redact

# Sensu's SEVERITIES, indexed by status; any other status counts as unknown.
SEVERITIES = ("ok", "warning", "critical", "unknown")
HISTORY_LENGTH = 21  # Tied to flap detection (sensu-go#3787): keep exactly Sensu's ring size.


def epoch_now() -> int:
    """
    The monitoring clock: epoch seconds, as Sensu stamps everything. The one clock of the app
    (engine, services, monitors, API); it lives here, the lowest module, because a model
    default uses it. Reading timezone.now() on each call lets tests freeze time there.
    """
    return int(timezone.now().timestamp())


def severity_of(status: int | None) -> str:
    if status is None:
        return "unknown"
    return SEVERITIES[status] if 0 <= status <= 3 else "unknown"


class ClientType(models.TextChoices):
    STANDARD = "standard", "Standard"
    PROXY = "proxy", "Proxy"


def _secrets_redacted(value: Any) -> Any:
    """
    A client's free-form attributes (or keepalive) as the audit trail records them. Sensu
    redacts secrets only when it shows a client; the trail is append-only, so a secret
    written there could never be taken back: every key Sensu redacts, and every key the
    trail treats as a secret field name (token, private_key...), shows "[redacted]".
    """
    return redact(
        value,
        marker=AUDIT_REDACTED,
        sensitive=lambda key: is_sensitive_key(key.lower()) or is_secret_name(key),
    )


@audited(
    exclude={"timestamp", "version"},
    sensitive={"signature"},
    name_of=lambda client: client.name,
    type_name="Client",
    redact_within={"attributes": _secrets_redacted, "keepalive": _secrets_redacted},
)
class Client(models.Model):
    """`client:<name>` and the `clients` set. The keepalive timestamp is not audited."""

    name = models.CharField(max_length=255, unique=True)
    address = models.CharField(max_length=255, default="unknown")
    subscriptions = models.JSONField(default=list, blank=True)
    type = models.CharField(max_length=16, choices=ClientType.choices, default=ClientType.STANDARD)
    # Sensu API-created and proxy clients default to keepalives false: the monitor skips them.
    keepalives = models.BooleanField(default=False)
    # The client's `keepalive` object: thresholds {warning, critical}, handlers, flap limits...
    keepalive = models.JSONField(default=dict, blank=True)
    version = models.CharField(max_length=64, blank=True, default="")
    # Epoch seconds of the last keepalive, as Sensu stores it.
    timestamp = models.BigIntegerField(default=0)
    # Any other attributes the client sent (environment, contact, custom tokens...).
    attributes = models.JSONField(default=dict, blank=True)
    # Sensu's `client:<name>:signature`: the first signature a keepalive brought; keepalives
    # and transport results must carry it from then on. A secret: never shown, masked in audit.
    signature = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def as_sensu(self, *, redacted: bool = False) -> dict[str, Any]:
        """The client as Sensu's registry holds it (`client:<name>`), the API and handlers see it."""
        data: dict[str, Any] = {
            **self.attributes,
            "name": self.name,
            "address": self.address,
            "subscriptions": list(self.subscriptions or []),
            "timestamp": self.timestamp,
            "keepalives": self.keepalives,
        }
        if self.version:
            data["version"] = self.version
        if self.type == ClientType.PROXY:
            data["type"] = "proxy"
        if self.keepalive:
            data["keepalive"] = self.keepalive
        return redact(data) if redacted else data


@audited(name_of=lambda check: check.name, type_name="CheckDefinition")
class CheckDefinition(models.Model):
    """A server-side check definition (Sensu's `checks` settings), merged into results."""

    class Type(models.TextChoices):
        STANDARD = "standard", "Standard"
        METRIC = "metric", "Metric"

    name = models.CharField(max_length=255, unique=True)
    command = models.TextField(blank=True, default="")
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.STANDARD)
    subscribers = models.JSONField(default=list, blank=True)
    interval = models.PositiveIntegerField(default=60)
    handlers = models.JSONField(default=list, blank=True)
    standalone = models.BooleanField(default=False)
    ttl = models.PositiveIntegerField(null=True, blank=True)
    ttl_status = models.PositiveSmallIntegerField(null=True, blank=True)
    auto_resolve = models.BooleanField(default=True)
    low_flap_threshold = models.PositiveSmallIntegerField(null=True, blank=True)
    high_flap_threshold = models.PositiveSmallIntegerField(null=True, blank=True)
    # Custom attributes merged into the check as-is (occurrences, refresh, contact...).
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def as_sensu(self) -> dict:
        """The definition as Sensu's settings would hold it (without the name)."""
        data = {**self.attributes, "command": self.command, "subscribers": self.subscribers}
        data["interval"] = self.interval
        if self.type != self.Type.STANDARD:
            data["type"] = self.type
        if self.handlers:
            data["handlers"] = self.handlers
        if self.standalone:
            data["standalone"] = True
        if self.ttl is not None:
            data["ttl"] = self.ttl
        if self.ttl_status is not None:
            data["ttl_status"] = self.ttl_status
        if not self.auto_resolve:
            data["auto_resolve"] = False
        if self.low_flap_threshold is not None:
            data["low_flap_threshold"] = self.low_flap_threshold
        if self.high_flap_threshold is not None:
            data["high_flap_threshold"] = self.high_flap_threshold
        return data


class CheckResult(models.Model):
    """
    `result:<client>:<check>` (the latest result), `history:<client>:<check>` (the ring of 21)
    and `...:last_ok`, in one row so the engine updates them with one UPDATE.
    `history` holds [status, executed, output] triples, oldest first.
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="results")
    check_name = models.CharField(max_length=255)
    check_data = models.JSONField(default=dict)
    status = models.IntegerField(default=0)
    output = models.TextField(blank=True, default="")
    executed = models.BigIntegerField(null=True, blank=True)
    history = models.JSONField(default=list, blank=True)
    last_ok = models.BigIntegerField(null=True, blank=True)
    # Only results carrying a ttl are watched by the TTL monitor (Sensu's `ttl` set).
    ttl = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["client__name", "check_name"]
        constraints = [
            models.UniqueConstraint(fields=["client", "check_name"], name="unique_result_per_check")
        ]
        indexes = [models.Index(fields=["check_name"], name="result_check_name")]

    def __str__(self) -> str:
        return f"{self.client.name}/{self.check_name}"

    @property
    def severity(self) -> str:
        return severity_of(self.status)


class Event(models.Model):
    """`events:<client>` hash entries. Resolved events are deleted, as in Sensu."""

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        FLAPPING = "flapping", "Flapping"
        # Only seen on an event that auto_resolve: false keeps after an OK result.
        RESOLVE = "resolve", "Resolve"

    # The event id persists across occurrences until the event resolves.
    uuid = models.UUIDField(default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="events")
    check_name = models.CharField(max_length=255)
    # The check as Sensu puts it in the event: definition merged with the result, plus
    # history (strings) and total_state_change.
    check_data = models.JSONField(default=dict)
    status = models.IntegerField(db_index=True)
    output = models.TextField(blank=True, default="")
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.CREATE)
    occurrences = models.PositiveIntegerField(default=1)
    occurrences_watermark = models.PositiveIntegerField(default=1)
    last_ok = models.BigIntegerField(null=True, blank=True)
    last_state_change = models.BigIntegerField(null=True, blank=True)
    timestamp = models.BigIntegerField()
    # As stored at processing time; API reads recompute both from the live silences.
    silenced = models.BooleanField(default=False)
    silenced_by = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "check_name"], name="unique_event_per_check")
        ]
        indexes = [models.Index(fields=["check_name"], name="event_check_name")]

    def __str__(self) -> str:
        return f"{self.client.name}/{self.check_name}"

    @property
    def severity(self) -> str:
        return severity_of(self.status)


def _silence_name(silence: "Silence") -> str:
    return silence.silence_id


@audited(name_of=_silence_name, type_name="Silence")
class Silence(models.Model):
    """`silence:<subscription>:<check>`; Redis EXPIRE becomes `expires_at`."""

    silence_id = models.CharField(max_length=512, unique=True, editable=False)
    subscription = models.CharField(max_length=255, null=True, blank=True)
    # Not named `check`: that would shadow Model.check(), Django's system-check hook.
    check_name = models.CharField(max_length=255, null=True, blank=True)
    reason = models.TextField(null=True, blank=True)
    creator = models.CharField(max_length=255, null=True, blank=True)
    begin = models.DateTimeField(null=True, blank=True)
    # The `expire` seconds asked for; expires_at is when the entry disappears.
    expire = models.IntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    expire_on_resolve = models.BooleanField(default=False)
    timestamp = models.BigIntegerField(default=epoch_now)

    class Meta:
        ordering = ["silence_id"]
        verbose_name_plural = "silences"

    def __str__(self) -> str:
        return self.silence_id

    def save(self, *args, **kwargs):
        self.silence_id = silence_key(self.subscription, self.check_name)
        super().save(*args, **kwargs)


def silence_key(subscription: str | None, check: str | None) -> str:
    return f"{subscription or '*'}:{check or '*'}"


class Stash(models.Model):
    """`stash:<path>`; `expires_at` stands in for the Redis TTL."""

    path = models.CharField(max_length=1024, unique=True)
    content = models.JSONField(default=dict)
    expire = models.IntegerField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path


class AggregateMember(models.Model):
    """`aggregates:<name>` set members `<client>:<check>`; counts come from the results."""

    name = models.CharField(max_length=255)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="aggregates")
    check_name = models.CharField(max_length=255)

    class Meta:
        ordering = ["name", "client__name", "check_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "client", "check_name"], name="unique_aggregate_member"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.client.name}:{self.check_name}"


class AcceptedResult(models.Model):
    """
    Sensu's transport `results` queue: POST /results stores the result here (one INSERT) and
    answers 202; the worker's drain feeds the engine in batches, oldest first, and deletes
    the rows in the same transaction, so a result is processed once or not at all.
    """

    id = models.BigAutoField(primary_key=True)
    # The client the result was published for ("sensu-api" unless the check has `source`).
    client_name = models.CharField(max_length=255)
    check_data = models.JSONField()
    accepted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.client_name}/{self.check_data.get('name', '?')}"


# --- Handlers, filters and mutators: Sensu's `handlers`, `filters` and `mutators` settings --


class HandlerType(models.TextChoices):
    PIPE = "pipe", "Pipe (a command reading the event on stdin)"
    TCP = "tcp", "TCP socket"
    UDP = "udp", "UDP socket"
    TRANSPORT = "transport", "Transport pipe (RabbitMQ)"
    SET = "set", "Set of handlers"
    # Beyond Sensu 1.x, which needed an extension for webhooks (docs/api-compat.md).
    HTTP = "http", "HTTP webhook"


def _headers_redacted(value: Any) -> Any:
    """Webhook headers as the trail records them: every value masked (Authorization...)."""
    if not isinstance(value, dict):
        return value
    return dict.fromkeys(value, AUDIT_REDACTED)


@audited(
    name_of=lambda handler: handler.name,
    type_name="SensuHandler",
    redact_within={"http_headers": _headers_redacted, "attributes": _secrets_redacted},
)
class Handler(models.Model):
    """
    A Sensu 1.x handler definition (`/etc/sensu/conf.d/handlers/*.json`). The fields Sensu
    knows are columns; anything else it carried is kept in `attributes` and shown back in
    /settings. The type-specific fields are used by their type only.
    """

    name = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=16, choices=HandlerType.choices, default=HandlerType.PIPE)
    # pipe: the command. Split into arguments and run without a shell unless `shell` is set.
    command = models.TextField(blank=True, default="")
    shell = models.BooleanField(
        default=False, help_text="Run the command through /bin/sh -c (Sensu always did)."
    )
    # Seconds; None means MONITORING_HANDLER_TIMEOUT_SECONDS.
    timeout = models.PositiveIntegerField(null=True, blank=True)
    severities = models.JSONField(default=list, blank=True)
    filters = models.JSONField(default=list, blank=True)
    mutator = models.CharField(max_length=255, blank=True, default="")
    handle_flapping = models.BooleanField(default=False)
    handle_silenced = models.BooleanField(default=False)
    # set: the member handlers' names.
    handlers = models.JSONField(default=list, blank=True)
    # tcp / udp: Sensu's `socket: {host, port}`.
    socket_host = models.CharField(max_length=255, blank=True, default="")
    socket_port = models.PositiveIntegerField(null=True, blank=True)
    # transport: Sensu's `pipe: {type: direct|fanout|topic, name, options}`.
    pipe = models.JSONField(default=dict, blank=True)
    # http: where the event JSON is POSTed, extra headers (masked everywhere), retries.
    http_url = models.URLField(max_length=2048, blank=True, default="")
    http_headers = models.JSONField(default=dict, blank=True)
    http_retries = models.PositiveSmallIntegerField(default=3)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def as_sensu(self, *, redacted: bool = False) -> dict[str, Any]:
        """
        The definition as Sensu's settings hold it (without the name; `http` in the shape
        monitoring/definitions.py reads). `redacted`, as /settings shows it: every header
        value masked, and Sensu's secret-looking keys.
        """
        data: dict[str, Any] = {**self.attributes, "type": self.type}
        match self.type:
            case HandlerType.PIPE:
                data["command"] = self.command
                if self.shell:
                    data["shell"] = True
            case HandlerType.TCP | HandlerType.UDP:
                data["socket"] = {"host": self.socket_host, "port": self.socket_port}
            case HandlerType.TRANSPORT:
                data["pipe"] = self.pipe
            case HandlerType.SET:
                data["handlers"] = list(self.handlers)
            case HandlerType.HTTP:
                headers = dict(self.http_headers or {})
                if redacted:
                    headers = dict.fromkeys(headers, REDACTED)
                data["http"] = {
                    "url": self.http_url,
                    "headers": headers,
                    "retries": self.http_retries,
                }
        if self.timeout is not None:
            data["timeout"] = self.timeout
        if self.severities:
            data["severities"] = list(self.severities)
        if self.filters:
            data["filters"] = list(self.filters)
        if self.mutator:
            data["mutator"] = self.mutator
        if self.handle_flapping:
            data["handle_flapping"] = True
        if self.handle_silenced:
            data["handle_silenced"] = True
        return redact(data) if redacted else data


@audited(name_of=lambda f: f.name, type_name="SensuFilter")
class Filter(models.Model):
    """A Sensu 1.x native filter: attribute match (with `eval:`), `negate`, `when` windows."""

    name = models.CharField(max_length=255, unique=True)
    attributes = models.JSONField(default=dict, blank=True)
    negate = models.BooleanField(default=False)
    when = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def as_sensu(self) -> dict[str, Any]:
        """The definition as Sensu's settings hold it (without the name)."""
        data: dict[str, Any] = {"attributes": self.attributes, "negate": self.negate}
        if self.when:
            data["when"] = self.when
        return data


@audited(name_of=lambda m: m.name, type_name="SensuMutator")
class Mutator(models.Model):
    """A pipe mutator: the command reads the event JSON and prints the handler's input."""

    name = models.CharField(max_length=255, unique=True)
    command = models.TextField()
    shell = models.BooleanField(default=False)
    timeout = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def as_sensu(self) -> dict[str, Any]:
        """The definition as Sensu's settings hold it (without the name)."""
        data: dict[str, Any] = {"command": self.command}
        if self.shell:
            data["shell"] = True
        if self.timeout is not None:
            data["timeout"] = self.timeout
        return data


class Notification(models.Model):
    """
    An event the engine decided to handle (Sensu's `process_event`), written in the engine's
    transaction, so handling happens only after the result commits and is never lost. The
    worker's dispatcher takes these (SKIP LOCKED, several workers side by side), selects and
    filters the handlers and turns each into HandlerRun rows.
    """

    id = models.BigAutoField(primary_key=True)
    # The event as Sensu hands it to handlers: id, client, check, occurrences, action...
    event = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"notification {self.pk}"


class HandlerRunState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    # Not run: a selection rule or a filter dropped the event for this handler.
    FILTERED = "filtered", "Filtered"


class HandlerRun(models.Model):
    """
    One handler's handling of one event: who was told what, when, and how it went. Kept for
    MONITORING_HANDLER_RUN_RETENTION_DAYS.
    """

    id = models.BigAutoField(primary_key=True)
    event_uuid = models.UUIDField()
    client_name = models.CharField(max_length=255)
    check_name = models.CharField(max_length=255)
    action = models.CharField(max_length=16)
    status = models.IntegerField()
    occurrences = models.PositiveIntegerField(default=1)
    handler = models.CharField(max_length=255)
    handler_type = models.CharField(max_length=16, choices=HandlerType.choices)
    state = models.CharField(
        max_length=16, choices=HandlerRunState.choices, default=HandlerRunState.PENDING
    )
    # Why it was filtered, or what went wrong ("exit status 2", "timed out after 10 s").
    reason = models.CharField(max_length=500, blank=True, default="")
    # The (mutated) data handed to the handler, bounded, and what it printed or answered.
    data = models.TextField(blank=True, default="")
    output = models.TextField(blank=True, default="")
    exit_status = models.IntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    worker_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["event_uuid", "id"], name="handlerrun_event"),
            models.Index(fields=["state", "next_attempt_at"], name="handlerrun_due"),
            models.Index(fields=["created_at"], name="handlerrun_created"),
            models.Index(fields=["handler", "created_at"], name="handlerrun_handler"),
        ]

    def __str__(self) -> str:
        return f"{self.handler}: {self.client_name}/{self.check_name} ({self.state})"


# --- The transport and the check scheduler ----------------------------------------------


class CheckSchedule(models.Model):
    """
    When the scheduler last published a check's request (epoch milliseconds). The scheduler
    advances it with a conditional UPDATE before publishing, so a request is published once
    however many workers run the scheduler (Sensu elected one leader through Redis).
    """

    check_name = models.CharField(max_length=255, unique=True)
    last_issued_ms = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return self.check_name


class TransportReceipt(models.Model):
    """
    A result message taken off the transport's `results` queue, by digest, recorded in the
    transaction that processed it. A message RabbitMQ delivers again (the worker died after
    the commit but before its ack) is recognised here and acknowledged without reprocessing.
    Purged after MONITORING_TRANSPORT_RECEIPT_HOURS.
    """

    digest = models.CharField(max_length=64, primary_key=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.digest


# --- The dashboard's history ----------------------------------------------------------


class MonitoringSnapshot(models.Model):
    """
    Open events by severity and clients by worst status at one moment, written every few
    minutes by a worker job (monitoring/snapshots.py) and kept two days:
    the dashboard's "last 24 hours" chart, since events themselves keep no history.
    """

    taken_at = models.DateTimeField(default=timezone.now, unique=True)
    events_warning = models.PositiveIntegerField(default=0)
    events_critical = models.PositiveIntegerField(default=0)
    events_unknown = models.PositiveIntegerField(default=0)
    clients_ok = models.PositiveIntegerField(default=0)
    clients_warning = models.PositiveIntegerField(default=0)
    clients_critical = models.PositiveIntegerField(default=0)
    clients_unknown = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["taken_at"]

    def __str__(self) -> str:
        return f"snapshot at {self.taken_at:%Y-%m-%d %H:%M}"
