"""
The one error format. Every 4xx/5xx from our APIs is JSON:

    {"message": "<human sentence naming the problem>", "code": "<machine code>",
     "errors": {<field>: [<messages>]}}          # "errors" only for validation failures

A view whose peer defined another shape (Foreman's {"error": {"message": ...}}) overrides
`format_error(self, body, status)` and this handler calls it.
"""

import logging
import sqlite3
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db.utils import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from psycopg import InterfaceError as PsycopgInterfaceError
from psycopg import OperationalError as PsycopgOperationalError
from psycopg.errors import AdminShutdown, CannotConnectNow, CrashShutdown, DiskFull, QueryCanceled
from rest_framework import exceptions, status
from rest_framework.response import Response

from integration_site.registry import registry

logger = logging.getLogger(__name__)

# The platform's own API paths; each app adds its own to `registry["api_path_prefixes"]`.
PLATFORM_API_PATH_PREFIXES = ("/api/", "/health")


def is_api_path(path: str) -> bool:
    """Errors under these paths are JSON even when raised outside DRF."""
    return path.startswith(tuple(registry["api_path_prefixes"]))


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is larger than the configured limit (API_MAX_BODY_BYTES)."
    default_code = "payload_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class UnprocessableEntity(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request depends on is unavailable."
    default_code = "service_unavailable"


# How long a client should wait after a cancelled query: what cancelled it was the statement
# time limit, so the database was slow or the request costly; an immediate retry would likely
# be cancelled again.
QUERY_CANCELLED_RETRY_AFTER_SECONDS = 30


def query_cancelled(exc: BaseException) -> bool:
    """A database error because PostgreSQL cancelled the statement (statement_timeout, or an
    operator's pg_cancel_backend); Django wraps psycopg's QueryCanceled."""
    return isinstance(exc, OperationalError) and isinstance(exc.__cause__, QueryCanceled)


def query_cancelled_message(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, QueryCanceled) and "timeout" in (cause.diag.message_primary or ""):
        limit = settings.DATABASE_STATEMENT_TIMEOUT_MS
        return (
            f"The query took longer than DATABASE_STATEMENT_TIMEOUT_MS ({limit} ms) and was "
            "cancelled; retry later, or narrow the request."
        )
    return "The database cancelled the query; retry later."


class QueryCancelled(ServiceUnavailable):
    default_detail = "The database cancelled the query; retry later."
    default_code = "query_cancelled"
    wait = QUERY_CANCELLED_RETRY_AFTER_SECONDS


def query_cancelled_response(request_is_api: bool, exc: BaseException) -> HttpResponse:
    """The 503 for a cancelled query raised outside DRF: JSON on our APIs, a plain page
    elsewhere (the admin)."""
    message = query_cancelled_message(exc)
    headers = {"Retry-After": str(QUERY_CANCELLED_RETRY_AFTER_SECONDS)}
    if request_is_api:
        return error_response(message, status=503, code="query_cancelled", headers=headers)
    return HttpResponse(message, status=503, content_type="text/plain", headers=headers)


# How long a client should wait after the database connection was lost or refused: a
# PostgreSQL restart (or a failover) takes seconds, so a short wait; the next request opens
# a fresh connection (Django closes an unusable one when the request ends, and the pool
# replaces it).
DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS = 5

DATABASE_UNAVAILABLE_MESSAGE = (
    f"The database is unavailable; retry in {DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS} seconds."
)

# The server-side causes that mean the server went away, not that the query was wrong:
# terminated by an administrator or a shutdown (57P01), a crashed sibling (57P02), the server
# starting up or shutting down (57P03).
_SERVER_GONE = (AdminShutdown, CrashShutdown, CannotConnectNow)


def database_unavailable(exc: BaseException) -> bool:
    """
    A database error because the connection was lost or refused (a PostgreSQL restart, an
    operator's pg_terminate_backend, the server not yet up): psycopg's error with no SQLSTATE
    (connection refused, server closed the connection unexpectedly) or a connection-class
    one (08xxx), one of `_SERVER_GONE`, or psycopg's InterfaceError on a closed connection.
    Not a cancelled query (`query_cancelled`), nor any other OperationalError (a lock time
    limit, SQLite's "database is locked"): those keep their own handling.
    """
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    cause = exc.__cause__
    if isinstance(cause, PsycopgInterfaceError):
        return True
    if not isinstance(cause, PsycopgOperationalError) or isinstance(cause, QueryCanceled):
        return False
    sqlstate = cause.sqlstate
    return sqlstate is None or sqlstate.startswith("08") or isinstance(cause, _SERVER_GONE)


class DatabaseUnavailable(ServiceUnavailable):
    default_detail = DATABASE_UNAVAILABLE_MESSAGE
    default_code = "database_unavailable"
    wait = DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS


# SQLite's result codes for a write its storage refused: SQLITE_FULL (the disk is full:
# ENOSPC) and SQLITE_IOERR_WRITE (any other failed write: over quota (EDQUOT), past the
# file size limit (EFBIG), or a failing disk). Python reports the extended code.
_SQLITE_STORAGE_REFUSED = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR_WRITE}

# The operator has to free space: no point in retrying at once.
STORAGE_FULL_RETRY_AFTER_SECONDS = 60

STORAGE_FULL_MESSAGE = (
    "The database could not write to its storage (disk full, over quota or failing), so "
    "nothing of this request was stored; retry once space is freed."
)


def storage_full(exc: BaseException) -> bool:
    """
    A database error because the database's storage refused the write: SQLite's
    `_SQLITE_STORAGE_REFUSED`, PostgreSQL's disk_full (53100). The transaction was rolled
    back, so nothing of the request was stored: a 507, not a 500.
    """
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error):
        return getattr(cause, "sqlite_errorcode", None) in _SQLITE_STORAGE_REFUSED
    return isinstance(cause, DiskFull)


class StorageFull(exceptions.APIException):
    status_code = status.HTTP_507_INSUFFICIENT_STORAGE
    default_detail = STORAGE_FULL_MESSAGE
    default_code = "insufficient_storage"
    wait = STORAGE_FULL_RETRY_AFTER_SECONDS


def database_error_response(request_is_api: bool, exc: BaseException) -> HttpResponse | None:
    """
    The 503 for a database that cancelled the query or went away, or the 507 for one whose
    storage is full, raised outside DRF: JSON on our APIs, a plain page elsewhere (the
    admin). None for any other error.
    """
    if query_cancelled(exc):
        return query_cancelled_response(request_is_api, exc)
    if storage_full(exc):
        logger.error("Database storage full: %s", exc)
        headers = {"Retry-After": str(STORAGE_FULL_RETRY_AFTER_SECONDS)}
        if request_is_api:
            return error_response(
                STORAGE_FULL_MESSAGE,
                status=507,
                code=StorageFull.default_code,
                headers=headers,
            )
        return HttpResponse(
            STORAGE_FULL_MESSAGE, status=507, content_type="text/plain", headers=headers
        )
    if not database_unavailable(exc):
        return None
    logger.warning("Database unavailable: %s", exc)
    headers = {"Retry-After": str(DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS)}
    if request_is_api:
        return error_response(
            DATABASE_UNAVAILABLE_MESSAGE,
            status=503,
            code=DatabaseUnavailable.default_code,
            headers=headers,
        )
    return HttpResponse(
        DATABASE_UNAVAILABLE_MESSAGE, status=503, content_type="text/plain", headers=headers
    )


class SignInLockedOut(exceptions.Throttled):
    """A 429 with Retry-After: the lockout ledger (integration_site.lockout) refuses to try."""

    def __init__(self, wait: int):
        super().__init__(
            wait=wait, detail=f"Too many failed sign-ins; try again in {wait} seconds."
        )


def error_body(message: str, *, code: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return body


def error_response(
    message: str, *, status: int, code: str, errors: Any = None, headers: dict | None = None
) -> JsonResponse:
    response = JsonResponse(error_body(message, code=code, errors=errors), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _first_message(detail: Any, path: str = "") -> str:
    """Flatten DRF's nested validation detail into one sentence naming the field."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                return _first_message(value, path)
            return _first_message(value, f"{path}.{key}" if path else str(key))
        return "Invalid input."
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                nested = isinstance(value, dict | list)
                return _first_message(value, f"{path}[{index}]" if nested else path)
        return "Invalid input."
    return f"{path}: {detail}" if path else str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif query_cancelled(exc):
        exc = QueryCancelled(query_cancelled_message(exc))
    elif database_unavailable(exc):
        logger.warning("Database unavailable: %s", exc)
        exc = DatabaseUnavailable()
    elif storage_full(exc):
        logger.error("Database storage full: %s", exc)
        exc = StorageFull()
    if not isinstance(exc, exceptions.APIException):
        # Unexpected: let ApiErrorMiddleware log it and answer a JSON 500.
        return None

    errors = None
    if isinstance(exc, exceptions.ValidationError):
        message = _first_message(exc.detail)
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    else:
        message = str(exc.detail)
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else getattr(exc, "default_code", "invalid")
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"

    body = error_body(message, code=code, errors=errors)
    view = context.get("view")
    formatter = getattr(view, "format_error", None)
    if callable(formatter):
        body = formatter(body, exc.status_code)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    return Response(body, status=exc.status_code, headers=headers)
