"""
The sign-in lockout ledger, shared by every channel that checks a password: HTTP Basic on
the API, the admin's login page, and the Identity and Console sign-in APIs (identity/).

Two limits, over the last IDENTITY_LOGIN_LOCKOUT_SECONDS:

- IDENTITY_LOGIN_MAX_FAILURES per username and end-user address. When the end user's
  address is unknown (`address=None`: an application signing its users in without stating
  their address), the key is the username alone.
- IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS per end-user address, over every username: it
  stops password spraying. It never applies to an unknown address, so one application's
  address is not a counter all of its users share.

Callers check before they verify anything, so a locked key costs no password hash at all.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from integration_site.models import LoginFailure

USERNAME_KEY_MAX_LENGTH = 255


def _username_key(username: str) -> str:
    return username.strip().lower()[:USERNAME_KEY_MAX_LENGTH]


def _window() -> timedelta:
    return timedelta(seconds=settings.IDENTITY_LOGIN_LOCKOUT_SECONDS)


def login_lockout_check(*, username: str, address: str | None) -> int | None:
    """
    Seconds until this username (from this end-user address) may try again, or None when
    it may try now. `address` None means the end user's address is unknown.
    """
    window = _window()
    now = timezone.now()
    recent = LoginFailure.objects.filter(failed_at__gt=now - window)
    limits = [
        (
            recent.filter(username=_username_key(username), remote_address=address or ""),
            settings.IDENTITY_LOGIN_MAX_FAILURES,
        )
    ]
    if address:
        limits.append(
            (
                recent.filter(remote_address=address),
                settings.IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS,
            )
        )
    waits = []
    for queryset, limit in limits:
        if limit <= 0:
            continue
        times = list(queryset.order_by("-failed_at").values_list("failed_at", flat=True)[:limit])
        if len(times) >= limit:
            # Locked until the oldest of the last `limit` failures leaves the window.
            waits.append(times[-1] + window - now)
    if not waits:
        return None
    return max(1, int(max(waits).total_seconds() + 0.999))


def login_failure_record(*, username: str, address: str | None) -> None:
    """Count one failed sign-in for this username (from this end-user address, if known)."""
    now = timezone.now()
    LoginFailure.objects.create(
        username=_username_key(username), remote_address=address or "", failed_at=now
    )
    # Prune as we go: the table only ever holds one window of failures.
    LoginFailure.objects.filter(failed_at__lte=now - _window()).delete()


def login_failures_clear(*, username: str, address: str | None) -> None:
    """A successful sign-in forgets this username's failures from this address."""
    LoginFailure.objects.filter(
        username=_username_key(username), remote_address=address or ""
    ).delete()
