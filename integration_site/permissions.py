from django.conf import settings
from rest_framework import exceptions, permissions

from integration_site.authentication import TokenPrincipal
from integration_site.client_ip import client_ip, ip_in_networks
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


class HasRequiredScope(permissions.BasePermission):
    """Authenticated, and holding the view's scope for this method (least privilege)."""

    def has_permission(self, request, view) -> bool:
        scope = required_scope(view, request.method)
        user = request.user
        if not user or not user.is_authenticated:
            if scope in INTEGRATION_API_SCOPES and self._anonymous_allowed(request):
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
