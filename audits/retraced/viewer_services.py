"""
The writes behind Retraced's viewer and Enterprise IT APIs: viewer tokens and their
exchange for sessions, session revocation, enterprise tokens, saved exports, the enterprise
saved and active searches, and the trail's record of each viewing. Views call these; they
hold no rules of their own.
"""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audits.context import AuditActor, AuditTarget
from audits.models import (
    VIEW_LOG_ACTION_DEFAULT,
    ActorType,
    AuditEvent,
    AuditSource,
    RetracedEnterpriseActiveSearch,
    RetracedEnterpriseSavedSearch,
    RetracedEnterpriseToken,
    RetracedSavedExport,
    RetracedViewerDescriptor,
    RetracedViewerRevocation,
)
from audits.retraced.authentication import (
    ViewerSession,
    secret_digest,
    viewer_session_sign,
)
from audits.retraced.viewer_selectors import ENTERPRISE_TOKEN_SEAL_PURPOSE
from audits.services import audit_event_build, audit_events_append
from integration_site.crypto import secret_seal


class ViewerTokenInvalid(Exception):
    """The viewer token is unknown, or older than RETRACED_VIEWER_TOKEN_SECONDS."""


def _new_secret() -> str:
    # Retraced's ids are 32 hex characters; its clients and docs show tokens in that form.
    return secrets.token_hex(16)


# --- Viewer tokens and sessions ----------------------------------------------------------


def viewer_token_create(
    *,
    project: str,
    environment: str,
    group_id: str,
    actor_id: str = "",
    is_admin: bool = False,
    target_id: str = "",
    view_log_action: str = "",
) -> str:
    """
    A viewer token for one group's log (one target's, when `target_id` is given), seen as
    `actor_id`; it must be exchanged for a session within RETRACED_VIEWER_TOKEN_SECONDS.
    Only its digest is stored: the token is returned once, here.
    """
    secret = _new_secret()
    RetracedViewerDescriptor.objects.create(
        digest=secret_digest(secret),
        project=project,
        environment=environment,
        group_id=group_id,
        actor_id=actor_id,
        is_admin=is_admin,
        target_id=target_id,
        view_log_action=view_log_action or VIEW_LOG_ACTION_DEFAULT,
    )
    return secret


def viewer_session_create(*, token: str, ip: str | None) -> tuple[str, str]:
    """
    Exchange a viewer token for a session: (project id, session JWT). A token may be
    exchanged again while it is fresh (the widget's refresh does), never after.
    """
    fresh_since = timezone.now() - timedelta(seconds=settings.RETRACED_VIEWER_TOKEN_SECONDS)
    descriptor = RetracedViewerDescriptor.objects.filter(
        digest=secret_digest(token), created_at__gt=fresh_since
    ).first()
    if descriptor is None:
        raise ViewerTokenInvalid(token)
    return descriptor.project, viewer_session_sign(descriptor, ip=ip)


def viewer_sessions_revoke(*, project: str, environment: str, group_id: str, actor_id: str) -> None:
    """
    End every viewer session of `actor_id` in the group, and void the viewer tokens minted
    for it and not yet exchanged (Retraced deletes its descriptors, which does both).
    """
    with transaction.atomic():
        RetracedViewerRevocation.objects.update_or_create(
            project=project,
            environment=environment,
            group_id=group_id,
            actor_id=actor_id,
            defaults={"revoked_at": timezone.now()},
        )
        RetracedViewerDescriptor.objects.filter(
            project=project, environment=environment, group_id=group_id, actor_id=actor_id
        ).delete()


def viewer_access_purge(*, now: datetime | None = None) -> int:
    """
    Forget viewer tokens past their exchange window and revocations older than any session
    they could still end: both are dead weight after that. Returns the rows deleted.
    """
    now = now or timezone.now()
    tokens, _ = RetracedViewerDescriptor.objects.filter(
        created_at__lte=now - timedelta(seconds=settings.RETRACED_VIEWER_TOKEN_SECONDS)
    ).delete()
    revocations, _ = RetracedViewerRevocation.objects.filter(
        revoked_at__lt=now - timedelta(seconds=settings.RETRACED_VIEWER_SESSION_SECONDS)
    ).delete()
    return tokens + revocations


# --- The trail's record of customer access ------------------------------------------------


def retraced_access_record(
    *,
    project: str,
    environment: str,
    group_id: str,
    action: str,
    crud: str,
    actor_id: str,
    actor_name: str = "",
    description: str,
    target_id: str = "",
    fields: dict[str, str] | None = None,
) -> AuditEvent:
    """
    Record a viewer's or enterprise client's action in the group's own log, as Retraced
    does (`audit.log.view`, `eitapi_token.create`, ...): in the token's project and
    environment, so the customer sees it in its own trail. Committed with the request,
    linked into the chain by the worker.
    """
    event = audit_event_build(
        action=action,
        source=AuditSource.SITE,
        crud=crud,
        description=description,
        actor=AuditActor(type=ActorType.INTEGRATION, id=actor_id, name=actor_name),
        target=AuditTarget(type="", id=target_id) if target_id else None,
        group_id=group_id,
        fields=fields,
    )
    event.project, event.environment = project, environment
    # Stored pending, as single-event ingest does: a widget's every search records one, and
    # it must not queue on the chain lock behind ingest (the worker links it within a second).
    return audit_events_append([event], link=False)[0]


def viewer_access_record(
    session: ViewerSession,
    *,
    action: str,
    crud: str,
    description: str,
    target_id: str = "",
    fields: dict[str, str] | None = None,
) -> AuditEvent:
    return retraced_access_record(
        project=session.project,
        environment=session.environment,
        group_id=session.group_id,
        action=action,
        crud=crud,
        actor_id=session.actor_id,
        description=description,
        target_id=target_id,
        fields=fields,
    )


def enterprise_access_record(token: RetracedEnterpriseToken, *, description: str) -> AuditEvent:
    """Each use of an enterprise token, as the token (`enterprise:<first 7 of its id>`)."""
    return retraced_access_record(
        project=token.project,
        environment=token.environment,
        group_id=token.group_id,
        action=token.view_log_action,
        crud="r",
        actor_id=token.access_actor_id,
        actor_name=token.display_name,
        description=description,
    )


# --- Enterprise tokens ---------------------------------------------------------------------


def enterprise_token_create(
    *,
    project: str,
    environment: str,
    group_id: str,
    display_name: str,
    view_log_action: str = "",
) -> tuple[RetracedEnterpriseToken, str]:
    """A new enterprise token for the group, and its secret (sealed at rest, never in clear)."""
    secret = _new_secret()
    token = RetracedEnterpriseToken.objects.create(
        digest=secret_digest(secret),
        sealed_secret=secret_seal(secret, purpose=ENTERPRISE_TOKEN_SEAL_PURPOSE),
        project=project,
        environment=environment,
        group_id=group_id,
        display_name=display_name,
        view_log_action=view_log_action or VIEW_LOG_ACTION_DEFAULT,
    )
    return token, secret


def enterprise_token_update(
    *, token: RetracedEnterpriseToken, display_name: str, view_log_action: str | None = None
) -> RetracedEnterpriseToken:
    token.display_name = display_name
    if view_log_action:
        token.view_log_action = view_log_action
    token.save(update_fields=["display_name", "view_log_action"])
    return token


def enterprise_token_delete(*, token: RetracedEnterpriseToken) -> None:
    token.delete()


@transaction.atomic
def enterprise_token_console_delete(*, token: RetracedEnterpriseToken, staff_username: str) -> None:
    """
    An operator deletes a token in the admin: recorded in the group's own log as the viewer
    API's delete is (`eitapi_token.delete`, the public id as target), the operator named as
    the console's viewer is (`console:<username>`), so the customer sees who removed it.
    """
    public_id = token.id  # read first: delete() clears the instance's pk
    enterprise_token_delete(token=token)
    retraced_access_record(
        project=token.project,
        environment=token.environment,
        group_id=token.group_id,
        action="eitapi_token.delete",
        crud="d",
        actor_id=f"console:{staff_username}",
        actor_name=staff_username,
        description="Deleted an Enterprise IT Integration API Token",
        target_id=public_id,
    )


# --- Saved exports ----------------------------------------------------------------------


def saved_export_create(*, session: ViewerSession, name: str, body: dict) -> RetracedSavedExport:
    return RetracedSavedExport.objects.create(
        project=session.project,
        environment=session.environment,
        group_id=session.group_id,
        name=name,
        body=body,
    )


def saved_export_update(
    *, export: RetracedSavedExport, body: dict, name: str | None = None
) -> RetracedSavedExport:
    export.body = body
    if name:
        export.name = name
    export.version += 1
    export.saved_at = timezone.now()
    export.save(update_fields=["body", "name", "version", "saved_at"])
    return export


# --- Enterprise saved and active searches -------------------------------------------------


def enterprise_saved_search_create(
    *,
    token: RetracedEnterpriseToken,
    name: str,
    actions: list[str],
    actor_ids: list[str],
    start: datetime | None,
) -> RetracedEnterpriseSavedSearch:
    return RetracedEnterpriseSavedSearch.objects.create(
        name=name,
        project=token.project,
        environment=token.environment,
        group_id=token.group_id,
        actions=actions,
        actor_ids=actor_ids,
        start=start,
    )


def enterprise_active_search_create(
    *, token: RetracedEnterpriseToken, saved_search: RetracedEnterpriseSavedSearch
) -> RetracedEnterpriseActiveSearch:
    return RetracedEnterpriseActiveSearch.objects.create(
        saved_search=saved_search,
        project=token.project,
        environment=token.environment,
        group_id=token.group_id,
    )


def enterprise_active_search_advance(
    *, active: RetracedEnterpriseActiveSearch, last_event: AuditEvent
) -> str:
    """Move the cursor past `last_event` and return the `next` token that resumes there."""
    active.next_token = _new_secret()
    active.after_created_at = last_event.created_at
    active.after_event_id = last_event.pk
    active.save(update_fields=["next_token", "after_created_at", "after_event_id"])
    return active.next_token


def enterprise_active_search_delete(*, active: RetracedEnterpriseActiveSearch) -> None:
    active.delete()
