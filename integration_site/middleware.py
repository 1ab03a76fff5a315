import logging
import re
import uuid

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from integration_site.errors import database_error_response, error_response, is_api_path
from integration_site.request_context import reset_current_request, set_current_request

logger = logging.getLogger(__name__)

# A client-supplied X-Request-ID is echoed only when it is short and plain, so it cannot
# smuggle newlines into logs or headers.
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestContextMiddleware:
    """Gives every request an id (echoed as X-Request-ID) and makes it reachable to auditing."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request.request_id = supplied if _REQUEST_ID_PATTERN.match(supplied) else str(uuid.uuid4())
        token = set_current_request(request)
        try:
            response = self.get_response(request)
        finally:
            reset_current_request(token)
        response["X-Request-ID"] = request.request_id
        return response


class NulRefusalMiddleware:
    """
    A NUL byte (`%00`) in the path or a query value reaches no view: PostgreSQL's text cannot
    hold one, so every lookup by a path segment or query value would fail as a 500. Refused
    here once for every route, in the API's JSON error format on API paths.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = _nul_in(request)
        if where is None:
            return self.get_response(request)
        message = f"The {where} contains a NUL byte (%00), which no route accepts."
        if is_api_path(request.path):
            return error_response(message, status=400, code="nul_byte")
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _nul_in(request: HttpRequest) -> str | None:
    if "\x00" in request.path:
        return "path"
    # Decoding the query only when its raw text carries %00 keeps this free on the ingest path.
    if "%00" not in request.META.get("QUERY_STRING", ""):
        return None
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return "query"
    return None


class ApiErrorMiddleware:
    """
    Our APIs answer errors in JSON, never with an HTML page or a traceback: Django's own
    404/403/500 pages and errors raised outside DRF views are rewritten here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and is_api_path(request.path)
            and not response.get("Content-Type", "").startswith("application/json")
            and not getattr(response, "keep_error_body", False)
        ):
            return error_response(
                _DEFAULT_MESSAGES.get(response.status_code, response.reason_phrase),
                status=response.status_code,
                code=response.reason_phrase.lower().replace(" ", "_"),
                headers={k: v for k, v in response.items() if k in ("Allow", "WWW-Authenticate")},
            )
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # The statement time limit fired (the site is busy or the request too costly), or the
        # connection was lost (a PostgreSQL restart): not broken, a 503 with Retry-After, on
        # the admin's pages too.
        database_error = database_error_response(is_api_path(request.path), exception)
        if database_error is not None:
            return database_error
        if not is_api_path(request.path):
            return None
        if isinstance(exception, RequestDataTooBig):
            return error_response(
                "Request body is larger than the configured limit (API_MAX_BODY_BYTES).",
                status=413,
                code="payload_too_large",
            )
        logger.exception("Unhandled error serving %s %s", request.method, request.path)
        return error_response(
            "Internal server error. The error has been logged; quote the X-Request-ID.",
            status=500,
            code="server_error",
        )


_DEFAULT_MESSAGES = {
    400: "Bad request.",
    403: "Forbidden.",
    404: "No such API path.",
    405: "Method not allowed on this path.",
    413: "Request body is larger than the configured limit (API_MAX_BODY_BYTES).",
    500: "Internal server error. The error has been logged; quote the X-Request-ID.",
}
