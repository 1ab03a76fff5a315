"""
The one auditing entry point. Every app records events through `audit_event_record`
(or `audit_events_append` for a batch); nothing else writes AuditEvent.
"""

from datetime import datetime
from typing import Any

from django.utils import timezone

from audits.chain import chain_append
from audits.context import AuditActor, AuditTarget, current_audit_context
from audits.models import AuditEvent, AuditSource

REDACTED = "[redacted]"


def audit_event_build(
    *,
    action: str,
    source: str = AuditSource.SITE,
    crud: str = "",
    name: str = "",
    title: str = "",
    description: str = "",
    actor: AuditActor | None = None,
    target: AuditTarget | None = None,
    associated: AuditTarget | None = None,
    audited_changes: dict[str, Any] | None = None,
    comment: str = "",
    remote_address: str | None = None,
    request_uuid: str | None = None,
    group_id: str = "",
    group_name: str = "",
    is_failure: bool = False,
    is_anonymous: bool = False,
    fields: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    external_id: str = "",
    component: str = "",
    component_version: str = "",
    created_at: datetime | None = None,
    assign_version: bool = False,
) -> AuditEvent:
    """An unsaved event with the acting context filled in from the current request/command."""
    context = current_audit_context()
    actor = actor or context.actor
    target = target or AuditTarget(type="")
    associated = associated or AuditTarget(type="")
    now = timezone.now()
    event = AuditEvent(
        source=source,
        action=action,
        crud=crud,
        name=name,
        title=title,
        description=description,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        actor_href=actor.href,
        target_type=target.type,
        target_id=target.id,
        target_name=target.name,
        target_href=target.href,
        associated_type=associated.type,
        associated_id=associated.id,
        associated_name=associated.name,
        group_id=group_id,
        group_name=group_name,
        audited_changes=audited_changes or {},
        comment=comment,
        remote_address=remote_address if remote_address is not None else context.remote_address,
        request_uuid=request_uuid or context.request_uuid,
        is_failure=is_failure,
        is_anonymous=is_anonymous,
        fields=fields or {},
        metadata=metadata or {},
        external_id=external_id,
        component=component,
        component_version=component_version,
        created_at=created_at or now,
        received_at=now,
    )
    event.assign_version = assign_version
    return event


def audit_events_append(events: list[AuditEvent], *, persist=None) -> list[AuditEvent]:
    """Link and store built events, all or nothing, in input order."""
    return chain_append(events, persist=persist)


def audit_event_record(**kwargs: Any) -> AuditEvent:
    """Record one event; takes the keyword arguments of `audit_event_build`."""
    return audit_events_append([audit_event_build(**kwargs)])[0]
