"""
The request being served, reachable from code that has no request argument (the audit
trail's signal handlers). Set by RequestContextMiddleware; None outside a request.

Outside a request, `operation()` groups the work of one command or task under one id, which
the audit trail records as its request UUID.
"""

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

from django.http import HttpRequest

_current_request: ContextVar[HttpRequest | None] = ContextVar("current_request", default=None)
_current_operation_id: ContextVar[str | None] = ContextVar("current_operation_id", default=None)


def current_request() -> HttpRequest | None:
    return _current_request.get()


def set_current_request(request: HttpRequest | None):
    return _current_request.set(request)


def reset_current_request(token) -> None:
    _current_request.reset(token)


def current_operation_id() -> str | None:
    return _current_operation_id.get()


@contextlib.contextmanager
def operation(operation_id: str | None = None) -> Iterator[str]:
    """Run the block as one operation, under `operation_id` or a fresh UUID; yields the id."""
    operation_id = operation_id or str(uuid.uuid4())
    token = _current_operation_id.set(operation_id)
    try:
        yield operation_id
    finally:
        _current_operation_id.reset(token)
