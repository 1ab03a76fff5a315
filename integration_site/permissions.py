from django.conf import settings
from django.utils.http import parse_header_parameters
from rest_framework import exceptions, permissions

from integration_site.authentication import TokenPrincipal
from integration_site.client_ip import client_ip, ip_in_networks
from integration_site.parsers import quoted
from integration_site.scopes import INTEGRATION_API_SCOPES, permission_codename


def required_scope(view, method: str) -> str | None:
    """
    The scope a view needs for `method`. Views declare `required_scopes`, a dict from HTTP
    method to scope with "*" as the fallback. A view that declares none is for staff only.
    """
    scopes = getattr(view, "required_scopes", None) or {}
    if method == "HEAD":
        method = "GET"
    return scopes.get(method, scopes.get("*"))


def principal_has_scope(user, scope: str) -> bool:
    if isinstance(user, TokenPrincipal):
        return scope in user.token.scopes
    if not user.is_active:
        return False
    return user.is_superuser or user.has_perm(f"integration_site.{permission_codename(scope)}")


ANONYMOUS_BODY_RULE = (
    "A request without credentials must send its body as Content-Type: application/json "
    "(got {content_type}); authenticate with a token or HTTP Basic to send another type."
)


def anonymous_body_is_json(request) -> None:
    """
    Raise 415 unless a request admitted without credentials sends its body, if any, as
    application/json. A hostile page can make a visitor's browser POST text/plain, a form or
    multipart cross-site with no CORS preflight; application/json needs one, which we refuse
    (no CORS headers). Callers with credentials keep the lenient parsing (`curl -d` sends a
    form type) and sessions stay CSRF-checked. A request with no body (Replicated's
    `PUT /version/{n}/apply`) needs no type.
    """
    meta = request.META
    has_body = meta.get("CONTENT_LENGTH", "") not in ("", "0") or "HTTP_TRANSFER_ENCODING" in meta
    if not has_body:
        return
    raw = meta.get("CONTENT_TYPE", "")
    media_type, _ = parse_header_parameters(raw)
    if media_type.lower() != "application/json":
        raise exceptions.UnsupportedMediaType(
            raw, detail=ANONYMOUS_BODY_RULE.format(content_type=quoted(raw, 100) or "none")
        )


class HasRequiredScope(permissions.BasePermission):
    """Authenticated, and holding the view's scope for this method (least privilege)."""

    def has_permission(self, request, view) -> bool:
        scope = required_scope(view, request.method)
        user = request.user
        if not user or not user.is_authenticated:
            if scope in INTEGRATION_API_SCOPES and self._anonymous_allowed(request):
                anonymous_body_is_json(request)
                return True
            raise exceptions.NotAuthenticated()
        if scope is None:
            if isinstance(user, TokenPrincipal) or not user.is_staff:
                raise exceptions.PermissionDenied("This endpoint is for console staff only.")
            return True
        if not principal_has_scope(user, scope):
            who = "This token" if isinstance(user, TokenPrincipal) else "This user"
            raise exceptions.PermissionDenied(f"{who} lacks the '{scope}' scope.")
        return True

    @staticmethod
    def _anonymous_allowed(request) -> bool:
        networks = settings.INTEGRATION_API_ANONYMOUS_NETWORKS
        return bool(networks) and ip_in_networks(client_ip(request), networks)
