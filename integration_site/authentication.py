"""
API authentication: bearer tokens (`Authorization: Bearer <t>`, `Token <t>`, and Retraced's
`Token token=<t>` and `token=<t>`), HTTP Basic
with a user's password (Foreman clients use it), and the admin session.
"""

import hashlib
import hmac
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import authentication, exceptions

from integration_site.client_ip import client_ip
from integration_site.errors import SignInLockedOut
from integration_site.lockout import (
    login_failure_record,
    login_failures_clear,
    login_lockout_check,
)
from integration_site.models import ApiToken, api_token_digest

# Writing last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# Verified tokens, per process, for API_TOKEN_CACHE_SECONDS: the ingest hot paths would
# otherwise spend a third of each request looking the same token up. Only tokens that exist
# are cached, so the cache is bounded by the number of real tokens.
_token_cache: dict[str, tuple[float, ApiToken]] = {}


def _token_by_digest(digest: str) -> ApiToken | None:
    ttl = settings.API_TOKEN_CACHE_SECONDS
    if ttl > 0:
        cached = _token_cache.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
    token = ApiToken.objects.filter(digest=digest).first()
    if token is not None and ttl > 0:
        _token_cache[digest] = (time.monotonic() + ttl, token)
    return token


def forget_cached_token(digest: str) -> None:
    """Drop a token from this process's cache (revocation); others expire it within the TTL."""
    _token_cache.pop(digest, None)


class TokenPrincipal:
    """The acting identity of a request authenticated by an API token."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, token: ApiToken):
        self.token = token
        self.username = f"token:{token.name}"

    def __str__(self) -> str:
        return self.username

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm, obj=None) -> bool:
        return False


TOKEN_KEYWORDS = (b"bearer", b"token")


def bearer_secret(request) -> str | None:
    """
    The secret of an `Authorization: Bearer <t>` (or `Token <t>`) header; None when the
    request carries no such header, so other authentication classes may try.
    """
    parts = authentication.get_authorization_header(request).split()
    if len(parts) == 1 and parts[0].startswith(b"token="):
        # Retraced's clients also send a bare `Authorization: token=<key>`.
        parts = [b"token", parts[0]]
    if not parts or parts[0].lower() not in TOKEN_KEYWORDS:
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed(
            "Malformed Authorization header: expected 'Bearer <token>'."
        )
    try:
        secret = parts[1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise exceptions.AuthenticationFailed("API token contains invalid characters.") from exc
    # Retraced's clients send `Token token=<key>`.
    return secret.removeprefix("token=")


def api_token_verify(secret: str) -> ApiToken:
    """The usable token for `secret`, its use recorded; AuthenticationFailed otherwise."""
    token = _token_by_digest(api_token_digest(secret))
    if token is None:
        raise exceptions.AuthenticationFailed("Invalid API token.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise exceptions.AuthenticationFailed("This API token has been revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        raise exceptions.AuthenticationFailed(
            f"This API token expired at {token.expires_at.isoformat()}."
        )
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        secret = bearer_secret(request)
        if secret is None:
            return None
        token = api_token_verify(secret)
        return TokenPrincipal(token), token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


# Verified Basic credentials, per process, for BASIC_AUTH_CACHE_SECONDS: checking a password
# runs Django's PBKDF2 (over a second here, by design), and Foreman clients such as hammer
# send username and password with every request. Keyed by an HMAC of the pair under
# SECRET_KEY, so the password itself is never held; only successful checks are cached.
_BASIC_CACHE_MAX = 1024
_basic_cache: dict[bytes, tuple[float, int, str]] = {}


def basic_auth_cache_clear() -> None:
    """Forget every verified Basic credential of this process (tests and benchmarks)."""
    _basic_cache.clear()


def _basic_cache_key(userid: str, password: str) -> bytes:
    message = f"{userid}\0{password}".encode("utf-8", "surrogatepass")
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()


class BasicAuthentication(authentication.BasicAuthentication):
    """
    DRF's Basic auth, with a short per-process cache of verified credentials, and the
    sign-in lockout ledger: failures count there like the admin's and the Identity API's,
    and a locked username or address is refused with a 429 before any password is hashed.
    """

    www_authenticate_realm = "api"

    def authenticate_credentials(self, userid, password, request=None):
        if any(ord(c) < 32 or ord(c) == 127 for c in userid):
            # No username holds control characters, and PostgreSQL cannot even compare NUL:
            # a plain rejection, with nothing hashed or looked up.
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        address = client_ip(request) if request is not None else None
        # Before the cache too: a cache hit would tell a guesser that this guess is right.
        retry_after = login_lockout_check(username=userid, address=address)
        if retry_after is not None:
            raise SignInLockedOut(retry_after)
        ttl = settings.BASIC_AUTH_CACHE_SECONDS
        key = _basic_cache_key(userid, password)
        cached = _basic_cache.get(key) if ttl > 0 else None
        if cached is not None and cached[0] > time.monotonic():
            user = get_user_model()._default_manager.filter(pk=cached[1]).first()
            # The stored password hash must be the one verified: a changed password (or a
            # rehash) misses, as does a user deactivated since.
            if user is not None and user.is_active and user.password == cached[2]:
                return user, None
        try:
            user, auth = super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            login_failure_record(username=userid, address=address)
            raise
        # Only here, once per cache lifetime: a cache hit must stay free of writes.
        login_failures_clear(username=userid, address=address)
        if ttl > 0:
            if len(_basic_cache) >= _BASIC_CACHE_MAX:
                _basic_cache.clear()
            _basic_cache[key] = (time.monotonic() + ttl, user.pk, user.password)
        return user, auth
