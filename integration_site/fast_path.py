"""
The ingest fast path shared by the hottest write endpoints (`POST /results`,
`POST /audit/v1/event`).

`IngestFastPathMiddleware` hands a POST to such a view's `fast_post` when its bearer token is
valid and holds the view's write scope, ahead of the browser middleware (CSP, sessions,
CommonMiddleware, CSRF, auth, messages, X-Frame-Options), URL resolution and DRF's request
wrapping, authentication classes, negotiation and rendering. On two cores those cost more
CPU than the INSERT such a request makes (docs/benchmarks.md), and a bearer-token POST uses
none of them: no cookie, no session, no HTML to frame. `fast_post` answers only the plain,
valid case and returns None for anything else (a bad body, an optional header it does not
handle) before doing any work, so every other request, every error included, takes the
usual path and gets the API's usual response.

The middleware sits after SecurityMiddleware (HTTPS redirect, HSTS, nosniff),
RequestContextMiddleware (X-Request-ID and the audit context) and ApiErrorMiddleware, so
their work applies to fast answers too; it checks ALLOWED_HOSTS itself, as CommonMiddleware
would.
"""

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError, InterfaceError
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, get_urlconf, resolve
from rest_framework.exceptions import AuthenticationFailed

from integration_site.authentication import TokenPrincipal, api_token_verify, bearer_secret
from integration_site.errors import database_error_response
from integration_site.permissions import principal_has_scope, required_scope


def token_principal_with_scope(request: HttpRequest, scope: str) -> TokenPrincipal | None:
    """The request's API token if it is valid and holds `scope`; None otherwise."""
    try:
        secret = bearer_secret(request)
        token = api_token_verify(secret) if secret is not None else None
    except AuthenticationFailed:
        return None
    if token is None:
        return None
    principal = TokenPrincipal(token)
    return principal if principal_has_scope(principal, scope) else None


class TokenFastPathMixin:
    """
    For an APIView whose plain valid POST `IngestFastPathMiddleware` may answer: `fast_post`
    returns the response, or None to leave the request to the view's `post` through DRF.
    """

    def fast_post(self, request: HttpRequest) -> HttpResponse | None:
        raise NotImplementedError


@lru_cache(maxsize=256)
def fast_path_route(path: str, urlconf: str) -> tuple[type[TokenFastPathMixin], dict] | None:
    """
    The view class serving `path`, with the path's keyword arguments, if it has a fast path.
    Cached per path (resolving walks every URL pattern before the monitoring routes);
    bounded, since clients choose paths. The arguments dict is shared: read it, never change it.
    """
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    view_class = getattr(match.func, "view_class", None)
    if isinstance(view_class, type) and issubclass(view_class, TokenFastPathMixin):
        return view_class, match.kwargs
    return None


@lru_cache(maxsize=16)
def _view_headers(view_class: type[TokenFastPathMixin]) -> tuple[tuple[str, str], ...]:
    # What DRF's finalize_response would add (Allow, Vary); fixed per view class.
    view = view_class()
    view.setup(HttpRequest())  # as as_view() does: HEAD joins GET in Allow
    return tuple(view.default_response_headers.items())


class IngestFastPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            try:
                response = self._fast_response(request)
            except (DatabaseError, InterfaceError) as exc:
                # Raised in a middleware, not a view: no process_exception sees it, and
                # Django would answer a 500. A lost connection or a cancelled query is the
                # API's usual 503 with Retry-After, as on the usual path.
                response = database_error_response(True, exc)
                if response is None:
                    raise
            if response is not None:
                return response
        return self.get_response(request)

    @staticmethod
    def _fast_response(request: HttpRequest) -> HttpResponse | None:
        route = fast_path_route(request.path_info, get_urlconf() or settings.ROOT_URLCONF)
        if route is None:
            return None
        view_class, kwargs = route
        try:
            request.get_host()  # ALLOWED_HOSTS; the usual path answers the 400
        except DisallowedHost:
            return None
        principal = token_principal_with_scope(request, required_scope(view_class, "POST"))
        if principal is None:
            return None
        # What DRF's authentication would leave on the request: the audit trail's actor
        # (audits.context) is read from it.
        request.user = principal
        view = view_class()
        view.setup(request, **kwargs)
        response = view.fast_post(request)
        if response is not None:
            for name, value in _view_headers(view_class):
                response.setdefault(name, value)
            # What CommonMiddleware, skipped here, would set: without it the server sends
            # the body chunked, and Replicated's 201 is an empty body of length 0.
            if not response.streaming and not response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response
