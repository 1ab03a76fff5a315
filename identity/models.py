"""
Identity and provisioning: the LDAP/AD directories the site authenticates against, and the
provisioning state (settings, what was queued, the outbox). The login lockout ledger is the
platform's (integration_site.lockout), shared with HTTP Basic and the admin's sign-in.
"""

from urllib.parse import quote

from django.db import models
from django.utils import timezone

from audits.auditing import audited


class TlsMode(models.TextChoices):
    PLAIN = "plain", "Plain (no encryption)"
    STARTTLS = "starttls", "StartTLS"
    LDAPS = "ldaps", "LDAPS"


class DirectoryType(models.TextChoices):
    OPENLDAP = "openldap", "OpenLDAP"
    ACTIVE_DIRECTORY = "ad", "Active Directory"
    OTHER = "other", "Other LDAP"


@audited(sensitive={"bind_password"}, type_name="DirectorySource", name_of=lambda s: s.name)
class DirectorySource(models.Model):
    """
    An LDAP or Active Directory server users sign in against, the `ldap` source of
    Replicated's identity config. The site's own users are a further, implicit source.
    """

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(
        default=0, help_text="Sources are tried in this order when a login names none."
    )
    directory_type = models.CharField(
        max_length=10, choices=DirectoryType.choices, default=DirectoryType.OPENLDAP
    )
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=389)
    tls_mode = models.CharField(max_length=10, choices=TlsMode.choices, default=TlsMode.PLAIN)
    verify_certificate = models.BooleanField(
        default=True, help_text="Check the server certificate (StartTLS and LDAPS)."
    )
    ca_certificate = models.TextField(
        blank=True, help_text="PEM CA certificate(s) to trust; empty means the system store."
    )
    bind_dn = models.CharField(
        "bind DN",
        max_length=500,
        blank=True,
        help_text="The search account; empty binds anonymously.",
    )
    # Encrypted with a key derived from DJANGO_SECRET_KEY (see identity/crypto.py); never shown.
    bind_password = models.TextField(blank=True, editable=False)
    base_dn = models.CharField("base DN", max_length=500)
    user_search_dn = models.CharField(
        "user search DN",
        max_length=500,
        blank=True,
        help_text="Where users live; empty means the base DN.",
    )
    username_attribute = models.CharField(
        max_length=64,
        default="uid",
        help_text="Attribute matched against the login name: uid (OpenLDAP), sAMAccountName (AD).",
    )
    user_object_class = models.CharField(
        max_length=64,
        default="",
        blank=True,
        help_text="Only entries of this objectClass are users.",
    )
    group_search_dn = models.CharField(
        "group search DN",
        max_length=500,
        blank=True,
        help_text="Where groups live; empty means the base DN.",
    )
    restrict_to_group_dn = models.CharField(
        "restricted user group DN",
        max_length=500,
        blank=True,
        help_text="When set, only direct members of this group may sign in or are provisioned.",
    )
    timeout_seconds = models.PositiveIntegerField(default=5)
    last_test_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(null=True, editable=False)
    last_test_message = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = "directory (LDAP/AD)"
        verbose_name_plural = "directories (LDAP/AD)"

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.port})"

    @property
    def effective_user_search_dn(self) -> str:
        return self.user_search_dn or self.base_dn

    @property
    def effective_group_search_dn(self) -> str:
        return self.group_search_dn or self.base_dn


class PasswordFormat(models.TextChoices):
    NONE = "none", "Never send passwords"
    HASHED = "hashed", "Send stored password hashes (never cleartext)"
    CLEARTEXT = "cleartext", "Send stored hashes, and cleartext where the directory stores it"


class SyncState(models.TextChoices):
    IDLE = "idle", "Idle"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused (waiting to retry)"
    DISABLED = "disabled", "Not configured"


@audited(
    type_name="ProvisionerSettings",
    exclude={
        "state",
        "last_sync_at",
        "last_full_sync_at",
        "last_error",
        "last_error_at",
        "needs_full_sync",
    },
    name_of=lambda s: "provisioner",
)
class ProvisionerSettings(models.Model):
    """
    The application's provisioner (Replicated `identity.provisioner`) and the sync state.
    One row; the URL may also come from IDENTITY_PROVISIONER_URL.
    """

    url = models.URLField(
        "provisioner URL",
        blank=True,
        help_text="e.g. http://app.internal:6006; empty uses IDENTITY_PROVISIONER_URL.",
    )
    enabled = models.BooleanField(default=True)
    password_format = models.CharField(
        max_length=10, choices=PasswordFormat.choices, default=PasswordFormat.NONE
    )
    enable_reset_request = models.BooleanField(
        default=True, help_text="Send POST /v1/reset before each full sync."
    )
    state = models.CharField(max_length=10, choices=SyncState.choices, default=SyncState.IDLE)
    needs_full_sync = models.BooleanField(default=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_full_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "provisioner"
        verbose_name_plural = "provisioner"

    def __str__(self) -> str:
        return "Provisioner"


class ProvisionedUser(models.Model):
    """What the application has been told about each user (queued, in outbox order)."""

    uuid = models.CharField(max_length=64, primary_key=True)
    source_key = models.CharField(max_length=120)
    username = models.CharField(max_length=255)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the last queued payload.")
    queued_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.username} ({self.uuid})"


class OutboxOperation(models.TextChoices):
    RESET = "reset", "POST /v1/reset"
    CREATE = "create", "POST /v1/user/create"
    MODIFY = "modify", "POST /v1/user/modify"
    DELETE = "delete", "DELETE /v1/user/:uuid"


class ProvisioningOutboxEntry(models.Model):
    """
    One request for the provisioner. Entries are sent strictly in id order; a failure
    stops the run and the same entry is retried next cycle, so nothing is skipped.
    """

    operation = models.CharField(max_length=10, choices=OutboxOperation.choices)
    user_uuid = models.CharField(max_length=64, blank=True)
    username = models.CharField(max_length=255, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "provisioning request"
        verbose_name_plural = "provisioning outbox"

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_operation_display()} {self.username}".strip()

    @property
    def method(self) -> str:
        return {"reset": "POST", "create": "POST", "modify": "POST", "delete": "DELETE"}[
            self.operation
        ]

    @property
    def path(self) -> str:
        if self.operation == OutboxOperation.DELETE:
            return f"/v1/user/{quote(self.user_uuid, safe='')}"
        if self.operation == OutboxOperation.RESET:
            return "/v1/reset"
        return f"/v1/user/{self.operation}"
