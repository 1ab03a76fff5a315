"""
The request being served, reachable from code that has no request argument (the audit
trail's signal handlers). Set by RequestContextMiddleware; None outside a request.
"""

from contextvars import ContextVar

from django.http import HttpRequest

_current_request: ContextVar[HttpRequest | None] = ContextVar("current_request", default=None)


def current_request() -> HttpRequest | None:
    return _current_request.get()


def set_current_request(request: HttpRequest | None):
    return _current_request.set(request)


def reset_current_request(token) -> None:
    _current_request.reset(token)
