"""
Who is acting, from where, under which request id: read from the current request (set by
RequestContextMiddleware), or from an explicit `audit_context()` block in commands and tasks.
Outside both, the actor is the system and each event gets a fresh request UUID.
"""

import contextlib
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from audits.models import ActorType
from integration_site.authentication import TokenPrincipal
from integration_site.client_ip import client_ip
from integration_site.request_context import current_operation_id, current_request


@dataclass(frozen=True)
class AuditActor:
    type: str
    id: str = ""
    name: str = ""
    href: str = ""


@dataclass(frozen=True)
class AuditTarget:
    type: str
    id: str = ""
    name: str = ""
    href: str = ""


SYSTEM_ACTOR = AuditActor(type=ActorType.SYSTEM, name="system")
ANONYMOUS_ACTOR = AuditActor(type=ActorType.ANONYMOUS, name="anonymous")


@dataclass(frozen=True)
class AuditContext:
    actor: AuditActor
    remote_address: str | None
    request_uuid: str


_explicit: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)


def actor_for_user(user) -> AuditActor:
    if user is None or not getattr(user, "is_authenticated", False):
        return ANONYMOUS_ACTOR
    if isinstance(user, TokenPrincipal):
        return AuditActor(
            type=ActorType.API_TOKEN, id=str(user.token.pk), name=f"token:{user.token.name}"
        )
    return AuditActor(type=ActorType.USER, id=str(user.pk), name=user.get_username())


def current_audit_context() -> AuditContext:
    explicit = _explicit.get()
    if explicit is not None:
        return explicit
    request = current_request()
    if request is None:
        # A command or task run as one `operation()` shares its id; anything else is its own.
        request_uuid = current_operation_id() or str(uuid.uuid4())
        return AuditContext(actor=SYSTEM_ACTOR, remote_address=None, request_uuid=request_uuid)
    return AuditContext(
        actor=actor_for_user(getattr(request, "user", None)),
        remote_address=client_ip(request) or None,
        request_uuid=getattr(request, "request_id", "") or str(uuid.uuid4()),
    )


@contextlib.contextmanager
def audit_context(
    *, actor: AuditActor = SYSTEM_ACTOR, remote_address: str | None = None, request_uuid=None
):
    """Group the events of one command or task under one actor and request UUID."""
    token = _explicit.set(
        AuditContext(
            actor=actor,
            remote_address=remote_address,
            request_uuid=request_uuid or str(uuid.uuid4()),
        )
    )
    try:
        yield
    finally:
        _explicit.reset(token)
