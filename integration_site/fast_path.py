"""
The ingest fast path shared by the hottest write endpoints (`POST /results`,
`POST /audit/v1/event`).

A POST carrying a valid API token that holds the view's write scope is handed to the view's
`fast_post` before DRF's request wrapping, authentication classes, content negotiation and
rendering, which cost about as much CPU as the INSERT such a request makes
(docs/benchmarks.md). `fast_post` answers only the plain, valid case and returns None for
anything else (a bad body, an optional header it does not handle) before doing any work, so
every error response still comes from DRF, the same as the rest of the API's.
"""

from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import AuthenticationFailed

from integration_site.authentication import TokenPrincipal, api_token_verify, bearer_secret
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
    """For an APIView: try `fast_post(request)` first for token-authenticated POSTs."""

    def fast_post(self, request: HttpRequest) -> HttpResponse | None:
        raise NotImplementedError

    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST":
            principal = token_principal_with_scope(request, required_scope(self, "POST"))
            if principal is not None:
                # What DRF's authentication would leave on the request: the audit trail's
                # actor (audits.context) is read from it.
                request.user = principal
                response = self.fast_post(request)
                if response is not None:
                    for name, value in self.default_response_headers.items():
                        response.setdefault(name, value)
                    return response
        return super().dispatch(request, *args, **kwargs)
