"""
The two credentials of Retraced's customer-facing APIs, neither of them an API token:

- a **viewer session** (`/viewer/v1`): a JWT (HS256) the widget sends raw in `Authorization`
  (no scheme), or as `?jwt=` on the CSV download. It carries the viewer token's claims, so a
  request needs no lookup but the revocation check;
- an **enterprise token** (`/enterprise/v1`): `Authorization: token=<secret>` (Retraced's
  `/token=(.+)/`), looked up by its SHA-256.

Each is refused with a 401 in Retraced's error body; logs-viewer answers a viewer 401 (a
response without `data.search.edges`) by calling the page's `refreshToken()`.
"""

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from audits.models import (
    RetracedEnterpriseToken,
    RetracedViewerDescriptor,
    RetracedViewerRevocation,
)

JWT_ALGORITHM = "HS256"
# Retraced's own claim names, so a client that decodes the session sees what it would there.
_TARGET_SCOPE_PREFIX = "target_id="


def secret_digest(secret: str) -> str:
    """Viewer and enterprise tokens are random 128-bit strings: a plain SHA-256 stores them."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _signing_key() -> bytes:
    if settings.RETRACED_VIEWER_SECRET:
        return settings.RETRACED_VIEWER_SECRET.encode()
    # A key of its own, derived from SECRET_KEY: a viewer JWT must never verify as anything
    # else the site signs, nor the reverse.
    return hmac.new(settings.SECRET_KEY.encode(), b"retraced-viewer-session", "sha256").digest()


@dataclass(frozen=True)
class ViewerSession:
    """The claims of a verified viewer session: whose view of which group."""

    project: str
    environment: str
    group_id: str
    actor_id: str
    target_id: str
    is_admin: bool
    view_log_action: str
    issued_at: datetime
    ip: str | None = None

    # DRF and the audit context treat the request's user as a principal.
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def get_username(self) -> str:
        return f"viewer:{self.actor_id}"

    def has_perm(self, perm, obj=None) -> bool:
        return False


def viewer_session_sign(descriptor: RetracedViewerDescriptor, *, ip: str | None) -> str:
    """The session JWT for a viewer token being exchanged now."""
    now = timezone.now()
    claims = {
        "projectId": descriptor.project,
        "environmentId": descriptor.environment,
        "groupId": descriptor.group_id,
        "actorId": descriptor.actor_id,
        "isAdmin": descriptor.is_admin,
        "viewLogAction": descriptor.view_log_action,
        "scope": f"{_TARGET_SCOPE_PREFIX}{descriptor.target_id}" if descriptor.target_id else "",
        "ip": ip or "",
        "iat": int(now.timestamp()),
        # Milliseconds: a revocation must kill a session issued in the same second before
        # it, and spare one issued after it from a new viewer token.
        "issuedMs": int(now.timestamp() * 1000),
        "exp": now + timedelta(seconds=settings.RETRACED_VIEWER_SESSION_SECONDS),
    }
    return jwt.encode(claims, _signing_key(), algorithm=JWT_ALGORITHM)


def viewer_session_verify(token: str) -> ViewerSession:
    """The session a JWT carries, if it is ours, unexpired and not revoked; 401 otherwise."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(),
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "iat", "issuedMs", "projectId", "groupId"]},
        )
    except jwt.ExpiredSignatureError:
        raise exceptions.AuthenticationFailed(
            "This viewer session has expired; exchange a new viewer token for another."
        ) from None
    except jwt.InvalidTokenError:
        raise exceptions.AuthenticationFailed("Invalid viewer session token.") from None
    scope = str(claims.get("scope") or "")
    issued_at = datetime.fromtimestamp(int(claims["issuedMs"]) / 1000, tz=UTC)
    session = ViewerSession(
        project=str(claims["projectId"]),
        environment=str(claims.get("environmentId") or ""),
        group_id=str(claims["groupId"]),
        actor_id=str(claims.get("actorId") or ""),
        target_id=scope.removeprefix(_TARGET_SCOPE_PREFIX) if scope else "",
        is_admin=bool(claims.get("isAdmin")),
        view_log_action=str(claims.get("viewLogAction") or ""),
        issued_at=issued_at,
        ip=str(claims.get("ip") or "") or None,
    )
    revoked = RetracedViewerRevocation.objects.filter(
        project=session.project,
        environment=session.environment,
        group_id=session.group_id,
        actor_id=session.actor_id,
        revoked_at__gte=issued_at,
    ).exists()
    if revoked:
        raise exceptions.AuthenticationFailed("This viewer session has been revoked.")
    return session


class ViewerSessionAuthentication(authentication.BaseAuthentication):
    """
    `Authorization: <JWT>` as logs-viewer sends it; views that allow it (the CSV download,
    which older viewers open as a link) also read `?jwt=`.
    """

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).strip()
        token = header.decode("latin-1") if header else ""
        if not token and getattr(request.parser_context.get("view"), "jwt_in_query", False):
            token = request.query_params.get("jwt", "")
        if not token:
            raise exceptions.NotAuthenticated(
                "A viewer session token is required in the Authorization header."
            )
        # Tolerate a `Bearer ` prefix; Retraced's widget sends the JWT bare.
        token = token.removeprefix("Bearer ").strip()
        session = viewer_session_verify(token)
        return session, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="viewer"'


_ENTERPRISE_TOKEN = re.compile(r"token=(.+)")
# The management paths name an enterprise token by its secret, as Retraced's do
# (`.../enterprisetoken/<token>`, `.../eitapi_token/<id>`): logs print it as [redacted].
ENTERPRISE_TOKEN_IN_PATH = re.compile(r"/(?:enterprisetoken|eitapi_token)/(?P<secret>[^/?#\s]+)")
# logs-viewer's legacy CSV download carries the viewer session in the query (`?jwt=`).
VIEWER_SESSION_IN_QUERY = re.compile(r"[?&]jwt=(?P<secret>[^&#\s]+)")


class EnterpriseTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: token=<secret>` (or `Token token=<secret>`): an enterprise token."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            raise exceptions.NotAuthenticated("Missing Authorization header.")
        match = _ENTERPRISE_TOKEN.search(header)
        if match is None or not match.group(1).strip():
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header form: expected 'token=<enterprise token>'."
            )
        token = RetracedEnterpriseToken.objects.filter(
            digest=secret_digest(match.group(1).strip())
        ).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid enterprise token.")
        return EnterprisePrincipal(token), token

    def authenticate_header(self, request) -> str:
        return 'Token realm="enterprise"'


class EnterprisePrincipal:
    """The acting identity of a request authenticated by an enterprise token."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, token: RetracedEnterpriseToken):
        self.token = token

    def get_username(self) -> str:
        return f"enterprise:{self.token.id[:7]}"

    def has_perm(self, perm, obj=None) -> bool:
        return False


class IsViewerSession(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        if not isinstance(request.user, ViewerSession):
            raise exceptions.NotAuthenticated()
        return True


class IsEnterpriseToken(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        if not isinstance(request.user, EnterprisePrincipal):
            raise exceptions.NotAuthenticated()
        return True


class ViewerSessionScheme(OpenApiAuthenticationExtension):
    target_class = "audits.retraced.authentication.ViewerSessionAuthentication"
    name = "retracedViewerSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "The viewer session JWT from `POST /viewer/v1/viewersession`, "
            "bare (no scheme).",
        }


class EnterpriseTokenScheme(OpenApiAuthenticationExtension):
    target_class = "audits.retraced.authentication.EnterpriseTokenAuthentication"
    name = "retracedEnterpriseToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`token=<enterprise token>`, as Retraced's Enterprise IT API takes.",
        }
