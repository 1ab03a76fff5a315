"""
Provisioning: the site pushes its directories' users to the application's provisioner
(Replicated's Provisioning API, where Replicated calls the app).

Two halves, both run by the `provisioning_sync` task:

- collect: compare each directory with `ProvisionedUser` (what the app has been told) and
  append create/modify/delete requests to the outbox. A full sync (first run, or "resync")
  clears both and queues POST /v1/reset and one create per user.
- deliver: GET /v1/ping must answer 204; then the outbox is sent strictly in order. The
  first non-2xx (or network error) pauses the sync and leaves that entry first in line, so
  the next cycle retries the same request and nothing is skipped or reordered.
"""

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from audits.context import AuditTarget
from audits.models import AuditSource, Crud
from audits.services import audit_event_record
from identity.directories import (
    Directory,
    DirectoryUnavailable,
    DirectoryUser,
    SearchCredentialsInvalid,
)
from identity.models import (
    OutboxOperation,
    PasswordFormat,
    ProvisionedUser,
    ProvisionerSettings,
    ProvisioningOutboxEntry,
    SyncState,
)
from identity.selectors import (
    directories_all,
    provisioner_settings,
    provisioning_outbox_pending,
)
from integration_site.schedule import RunLease, exclusive_run_lease

logger = logging.getLogger(__name__)

# The sync holds its periodic job's run lease (integration_site.schedule), renewed as it
# goes, so two runs never sync at once and only the holder releases it. identity/tasks.py
# registers the task under this name (a test keeps the two in step).
PROVISIONING_SYNC_JOB = "identity.tasks.provisioning_sync"
# Renewed every third of it, after each directory listing and each request; a worker killed
# mid-sync stalls provisioning for at most this long. Longer than one LDAP listing may take.
PROVISIONING_LEASE_SECONDS = 300
PROVISIONING_TARGET = AuditTarget(type="Provisioner", id="1", name="provisioner")


def provisioner_url(config: ProvisionerSettings) -> str:
    return (config.url or settings.IDENTITY_PROVISIONER_URL).rstrip("/")


def provisioning_enabled(config: ProvisionerSettings | None = None) -> bool:
    config = config or provisioner_settings()
    return config.enabled and bool(provisioner_url(config))


# --- Payloads -------------------------------------------------------------------------


def _password_fields(user: DirectoryUser, password_format: str) -> dict[str, str]:
    """
    What password, if any, the operator lets the app see. Only hashes by default
    ("hashed"); a cleartext value stored in the directory goes out only under "cleartext".
    """
    stored = user.stored_password
    if password_format == PasswordFormat.NONE or not stored:
        return {}
    if stored.startswith("{") and "}" in stored:
        scheme = stored[1 : stored.index("}")].lower()
        if scheme in {"cleartext", "plain"}:
            stored, scheme = stored[stored.index("}") + 1 :], "cleartext"
        else:
            return {"password_format": "rfc2307", "password": stored}
    elif "$" in stored and stored.split("$", 1)[0].replace("_", "").isalnum():
        return {"password_format": "django", "password": stored}
    else:
        scheme = "cleartext"
    if scheme == "cleartext" and password_format == PasswordFormat.CLEARTEXT:
        return {"password_format": "cleartext", "password": stored}
    return {}


def user_payload(user: DirectoryUser, *, password_format: str) -> dict[str, str]:
    """The body of POST /v1/user/create and /modify."""
    first = user.first("givenName")
    last = user.first("sn")
    payload = {
        "uuid": user.uuid,
        "user_id": user.dn,
        "username": user.username,
        "first_name": first,
        "last_name": last,
        "full_name": user.first("displayName", "cn") or " ".join(p for p in (first, last) if p),
        "email": user.first("mail", "userPrincipalName"),
    }
    payload.update(_password_fields(user, password_format))
    return payload


def _digest(payload: dict) -> str:
    # Keyed, so a stored digest of a payload holding a password cannot be brute-forced.
    return salted_hmac(
        "console.provisioning", json.dumps(payload, sort_keys=True), algorithm="sha256"
    ).hexdigest()


def _queue(operation: str, *, user_uuid: str = "", username: str = "", payload=None) -> None:
    ProvisioningOutboxEntry.objects.create(
        operation=operation, user_uuid=user_uuid, username=username, payload=payload or {}
    )


# --- Collect --------------------------------------------------------------------------


class LeaseLost(Exception):
    """The run lease lapsed and another run took it over: this run must stop writing."""


def _keep(lease: RunLease | None) -> None:
    if lease is not None and not lease.renew_if_due():
        raise LeaseLost


@dataclass
class CollectResult:
    queued: int = 0
    errors: list[str] | None = None


def _collect_directory(directory: Directory, *, password_format: str) -> list[tuple]:
    """
    List a directory completely before touching anything (a half listing is no listing).
    Site superusers are left out: whoever controls the provisioner must not receive their
    password hashes. One who becomes superuser later drops out of the listing, so the next
    sync sends the app a delete for them and nothing about them again.
    """
    users = []
    for user in directory.list_users():
        if user.is_superuser:
            continue
        payload = user_payload(user, password_format=password_format)
        users.append((user, payload, _digest(payload)))
    return users


def provisioning_collect(
    *, config: ProvisionerSettings, lease: RunLease | None = None
) -> CollectResult:
    result = CollectResult(errors=[])
    full = config.needs_full_sync
    listings = {}
    for directory in directories_all():
        try:
            listings[directory.key] = _collect_directory(
                directory, password_format=config.password_format
            )
        except (DirectoryUnavailable, SearchCredentialsInvalid) as exc:
            # Leave this directory's users as they are: an unreachable directory must not
            # look like an empty one and delete everybody.
            result.errors.append(str(exc))
        _keep(lease)

    with transaction.atomic():
        if full:
            ProvisioningOutboxEntry.objects.filter(sent_at__isnull=True).delete()
            ProvisionedUser.objects.all().delete()
            if config.enable_reset_request:
                _queue(OutboxOperation.RESET)
                result.queued += 1
        known = {p.uuid: p for p in ProvisionedUser.objects.all()}
        seen: set[str] = set()
        for source_key, users in listings.items():
            for user, payload, digest in users:
                if user.uuid in seen:
                    continue
                seen.add(user.uuid)
                existing = known.get(user.uuid)
                if existing is None:
                    _queue(
                        OutboxOperation.CREATE,
                        user_uuid=user.uuid,
                        username=user.username,
                        payload=payload,
                    )
                    ProvisionedUser.objects.create(
                        uuid=user.uuid, source_key=source_key, username=user.username, digest=digest
                    )
                elif existing.digest != digest or existing.source_key != source_key:
                    _queue(
                        OutboxOperation.MODIFY,
                        user_uuid=user.uuid,
                        username=user.username,
                        payload=payload,
                    )
                    existing.digest, existing.username = digest, user.username
                    existing.source_key, existing.queued_at = source_key, timezone.now()
                    existing.save()
                else:
                    continue
                result.queued += 1
        for uuid, existing in known.items():
            # Users of a directory that failed to list are kept; users of a directory that
            # was removed or disabled are gone from the site, so the app is told.
            unreachable = existing.source_key not in listings and _source_still_enabled(
                existing.source_key
            )
            if uuid in seen or unreachable:
                continue
            _queue(OutboxOperation.DELETE, user_uuid=uuid, username=existing.username)
            existing.delete()
            result.queued += 1
        if full:
            config.needs_full_sync = False
            config.last_full_sync_at = timezone.now()
            config.save(update_fields=["needs_full_sync", "last_full_sync_at"])
    return result


def _source_still_enabled(source_key: str) -> bool:
    return source_key in {d.key for d in directories_all()}


# --- Deliver --------------------------------------------------------------------------


@dataclass
class HttpOutcome:
    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _http(method: str, url: str, payload: dict | None = None) -> HttpOutcome:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "User-Agent": "integration-site"},
    )
    try:
        with urllib.request.urlopen(
            request, timeout=settings.IDENTITY_PROVISIONER_TIMEOUT_SECONDS
        ) as response:
            return HttpOutcome(status=response.status)
    except urllib.error.HTTPError as exc:
        body = exc.read(500).decode(errors="replace")
        return HttpOutcome(status=exc.code, error=f"HTTP {exc.code} {body}".strip())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return HttpOutcome(status=None, error=f"{exc.__class__.__name__}: {exc}")


def _pause(config: ProvisionerSettings, message: str) -> None:
    was_paused = config.state == SyncState.PAUSED
    config.state = SyncState.PAUSED
    config.last_error = message[:4000]
    config.last_error_at = timezone.now()
    config.save(update_fields=["state", "last_error", "last_error_at"])
    if not was_paused:
        # Audit the transition, not every retry, so a long outage is one event.
        audit_event_record(
            action="provisioning.paused",
            crud=Crud.UPDATE,
            source=AuditSource.SYSTEM,
            target=PROVISIONING_TARGET,
            description=f"Provisioning paused: {message[:1000]}",
            is_failure=True,
        )


def provisioning_deliver(*, config: ProvisionerSettings, lease: RunLease | None = None) -> bool:
    """Send the outbox in order; True when it is empty afterwards."""
    base = provisioner_url(config)
    ping = _http("GET", f"{base}/v1/ping")
    if ping.status != 204:
        _pause(
            config,
            f"GET /v1/ping answered {ping.status or 'nothing'} (204 expected). {ping.error}".strip(),
        )
        return False
    for entry in provisioning_outbox_pending().iterator():
        _keep(lease)
        body = None if entry.operation == OutboxOperation.DELETE else entry.payload
        outcome = _http(entry.method, f"{base}{entry.path}", body)
        entry.attempts += 1
        entry.last_attempt_at = timezone.now()
        entry.last_status = outcome.status
        if not outcome.ok:
            entry.last_error = outcome.error[:4000]
            entry.save(update_fields=["attempts", "last_attempt_at", "last_status", "last_error"])
            _pause(config, f"{entry.method} {entry.path} failed: {outcome.error}")
            return False
        entry.sent_at = entry.last_attempt_at
        entry.last_error = ""
        # Delivered: the password (if one was sent) need not stay in the database.
        entry.payload = {k: v for k, v in entry.payload.items() if k != "password"}
        entry.save()
    return True


# --- The cycle ------------------------------------------------------------------------


def provisioning_sync_run() -> str:
    """One provisioning cycle; returns a line for the log. Safe to run from several workers."""
    config = provisioner_settings()
    if not provisioning_enabled(config):
        if config.state != SyncState.DISABLED:
            ProvisionerSettings.objects.filter(pk=1).update(state=SyncState.DISABLED)
        return "provisioning is not configured"
    with exclusive_run_lease(
        name=PROVISIONING_SYNC_JOB, seconds=PROVISIONING_LEASE_SECONDS
    ) as lease:
        if lease is None:
            return "another worker is syncing"
        try:
            return _sync(config, lease)
        except LeaseLost:
            logger.warning("Provisioning sync lost its lease to another run; stopped")
            return "lost the lease to another run; stopped"


def _sync(config: ProvisionerSettings, lease: RunLease) -> str:
    """Collect and deliver, holding `lease`; raises LeaseLost once another run took it."""
    config.refresh_from_db()
    was_paused = config.state == SyncState.PAUSED
    ProvisionerSettings.objects.filter(pk=1).update(state=SyncState.RUNNING)
    config.state = SyncState.PAUSED if was_paused else SyncState.RUNNING
    collected = provisioning_collect(config=config, lease=lease)
    delivered = provisioning_deliver(config=config, lease=lease)
    if delivered:
        config.refresh_from_db()
        config.state = SyncState.IDLE
        config.last_sync_at = timezone.now()
        config.last_error = "; ".join(collected.errors or [])[:4000]
        config.last_error_at = timezone.now() if collected.errors else config.last_error_at
        config.save(update_fields=["state", "last_sync_at", "last_error", "last_error_at"])
        if was_paused:
            audit_event_record(
                action="provisioning.resumed",
                crud=Crud.UPDATE,
                source=AuditSource.SYSTEM,
                target=PROVISIONING_TARGET,
                description="Provisioning resumed; the outbox is delivered.",
            )
    return f"queued {collected.queued}, delivered={delivered}"
