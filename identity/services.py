"""
Writes for identity: signing in against the directories (with lockout and auditing), and
managing directory sources. Provisioning lives in `provisioning.py`.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audits.context import AuditTarget
from audits.models import AuditSource, Crud
from audits.services import audit_event_record
from identity.crypto import secret_encrypt
from identity.directories import (
    Directory,
    DirectoryUnavailable,
    DirectoryUser,
    LdapDirectory,
    SearchCredentialsInvalid,
)
from identity.models import DirectorySource
from identity.provisioning import PROVISIONING_TARGET
from identity.selectors import provisioner_settings
from identity.tasks import provisioning_sync
from integration_site.lockout import (
    login_failure_record,
    login_failures_clear,
    login_lockout_check,
)

USERNAME_MAX_LENGTH = 255


class LoginLockedOut(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"Too many failed sign-ins; try again in {retry_after} seconds.")
        self.retry_after = retry_after


class LoginRejected(Exception):
    """Bad credentials, unknown user, or a user the channel does not admit."""


class NoMatchingSource(ValueError):
    pass


@dataclass
class LoginOutcome:
    user: DirectoryUser
    directory: Directory


# --- Signing in -----------------------------------------------------------------------


def _audit_login(
    *, channel: str, outcome: str, username: str, reason: str, directory=None, user=None
) -> None:
    failed = outcome != "success"
    where = (
        f" against {directory.name} ({directory.hostname}, {directory.base_dn})"
        if directory
        else ""
    )
    audit_event_record(
        action=f"{channel}.login.{outcome}",
        crud=Crud.READ,
        source=AuditSource.SITE,
        target=AuditTarget(
            type="DirectoryUser",
            id=user.dn if user else "",
            name=username[:USERNAME_MAX_LENGTH],
        ),
        description=f"{channel} sign-in for {username[:USERNAME_MAX_LENGTH]!r}: {reason}{where}",
        is_failure=failed,
        fields={"directory": directory.key} if directory else {},
    )


def directory_login(
    *,
    username: str,
    password: str,
    end_user_address: str | None,
    directories: list[Directory],
    channel: str = "identity",
    staff_only_on_site: bool = False,
) -> LoginOutcome:
    """
    Check credentials against `directories` in order. The first directory that knows the
    username decides; one that cannot be reached is skipped, and if nobody else knew the
    user the caller gets DirectoryUnavailable (the user may live there) rather than a 401.
    Every attempt is audited; the password never is.

    Failures count in the platform's lockout ledger (integration_site.lockout) under the
    username and `end_user_address`: the address of the person signing in, when the caller
    stated it, or None. The caller's own address is never used: it is the application's,
    shared by all of its users.
    """
    retry_after = login_lockout_check(username=username, address=end_user_address)
    if retry_after is not None:
        _audit_login(channel=channel, outcome="locked", username=username, reason="locked out")
        raise LoginLockedOut(retry_after)

    unavailable: list[str] = []
    for directory in directories:
        try:
            result = directory.authenticate(username, password)
        except (DirectoryUnavailable, SearchCredentialsInvalid) as exc:
            unavailable.append(str(exc))
            continue
        if not result.found:
            continue
        user = result.user
        if (
            user is not None
            and staff_only_on_site
            and directory.key == "site"
            and not user.is_staff
        ):
            user = None
        if user is None:
            with transaction.atomic():
                login_failure_record(username=username, address=end_user_address)
                _audit_login(
                    channel=channel,
                    outcome="failure",
                    username=username,
                    reason="wrong password or not permitted",
                    directory=directory,
                )
            raise LoginRejected("Invalid username or password.")
        with transaction.atomic():
            login_failures_clear(username=username, address=end_user_address)
            _audit_login(
                channel=channel,
                outcome="success",
                username=username,
                reason="signed in",
                directory=directory,
                user=user,
            )
        return LoginOutcome(user=user, directory=directory)

    if unavailable:
        _audit_login(
            channel=channel,
            outcome="unavailable",
            username=username,
            reason="directory unavailable: " + "; ".join(unavailable),
        )
        raise DirectoryUnavailable("; ".join(unavailable))
    with transaction.atomic():
        login_failure_record(username=username, address=end_user_address)
        _audit_login(channel=channel, outcome="failure", username=username, reason="unknown user")
    raise LoginRejected("Invalid username or password.")


def directory_user_find(*, username: str, directories: list[Directory]) -> DirectoryUser | None:
    """The first directory's entry for `username`; unreachable directories raise."""
    for directory in directories:
        user = directory.find_user(username)
        if user is not None:
            return user
    return None


# --- Directory sources ----------------------------------------------------------------


def directory_source_set_bind_password(*, source: DirectorySource, password: str) -> None:
    """Store a new bind password, encrypted; saving goes through the audited model (masked)."""
    source.bind_password = secret_encrypt(password)


def directory_source_test(*, source: DirectorySource) -> tuple[bool, str]:
    """The admin's "test connection": bind, search, and remember the outcome on the source."""
    try:
        ok, message = True, LdapDirectory(source).test_connection()
    except (DirectoryUnavailable, SearchCredentialsInvalid) as exc:
        ok, message = False, str(exc)
    DirectorySource.objects.filter(pk=source.pk).update(
        last_test_at=timezone.now(), last_test_ok=ok, last_test_message=message[:2000]
    )
    audit_event_record(
        action="directory.test_connection",
        crud=Crud.READ,
        source=AuditSource.SITE,
        target=AuditTarget(type="DirectorySource", id=str(source.pk), name=source.name),
        description=message[:2000],
        is_failure=not ok,
    )
    return ok, message


def provisioning_resync_request() -> None:
    """The admin's "resync": drop what is pending, then reset and send everyone again."""
    with transaction.atomic():
        config = provisioner_settings()
        config.needs_full_sync = True
        config.save(update_fields=["needs_full_sync"])
        audit_event_record(
            action="provisioning.resync",
            crud=Crud.UPDATE,
            source=AuditSource.SITE,
            target=PROVISIONING_TARGET,
            description="Full re-sync requested: reset, then every user is sent again.",
        )
        provisioning_sync_soon()


def provisioning_sync_soon() -> None:
    """Run a cycle on the worker once the current transaction commits."""
    transaction.on_commit(lambda: provisioning_sync.enqueue())
