"""
Reads behind Retraced's viewer and Enterprise IT APIs. Every one is scoped by the caller's
project, environment and group: a row of another group is "not found", never shown.
"""

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from audits.models import (
    AuditEvent,
    Crud,
    RetracedEnterpriseActiveSearch,
    RetracedEnterpriseSavedSearch,
    RetracedEnterpriseToken,
    RetracedSavedExport,
)
from audits.retraced.authentication import secret_digest
from integration_site.crypto import SecretUnreadable, secret_open

# A group's enterprise tokens and saved exports are listed whole up to this many: Retraced
# lists them unbounded, and no widget shows more.
GROUP_LIST_MAX = 500
# Retraced's cap on an active search's page (`page_size<=200`).
ACTIVE_SEARCH_PAGE_MAX = 200
ACTIVE_SEARCH_PAGE_DEFAULT = 200
# The HKDF info label of the key that seals enterprise token secrets: no other use of
# SECRET_KEY can open them.
ENTERPRISE_TOKEN_SEAL_PURPOSE = b"integration-site.retraced.enterprise-token-secret"
# What a token whose secret cannot be opened is answered as: `unreadable-<public id>`. The
# logs viewer shows only a token's id and name, so the marker must sit in the id itself,
# where the customer sees it; paths accept it, so the token can still be renamed or deleted.
UNREADABLE_TOKEN_PREFIX = "unreadable-"


def _in_group(queryset: QuerySet, *, project: str, environment: str, group_id: str) -> QuerySet:
    return queryset.filter(project=project, environment=environment, group_id=group_id)


def enterprise_tokens_of_group(*, project: str, environment: str, group_id: str) -> QuerySet:
    return _in_group(
        RetracedEnterpriseToken.objects.order_by("created_at", "id"),
        project=project,
        environment=environment,
        group_id=group_id,
    )[:GROUP_LIST_MAX]


def enterprise_token_of_group(
    *, token_id: str, project: str, environment: str, group_id: str
) -> RetracedEnterpriseToken | None:
    """
    The group's token named by `token_id`: its secret (Retraced's id, what the lists answer),
    its public id (what the audit trail records), or the marked public id an unreadable
    token is listed by.
    """
    public_id = token_id.removeprefix(UNREADABLE_TOKEN_PREFIX)
    return _in_group(
        RetracedEnterpriseToken.objects.filter(Q(pk=public_id) | Q(digest=secret_digest(token_id))),
        project=project,
        environment=environment,
        group_id=group_id,
    ).first()


@dataclass(frozen=True)
class EnterpriseTokenCredential:
    """
    What the APIs answer as a token's id: its secret, as Retraced does. A secret that cannot
    be opened (SECRET_KEY rotated without a fallback, or a token older than migration 0017)
    is answered as `unreadable-<public id>`, which still names the token in paths but is
    plainly no credential, with `readable` False.
    """

    value: str
    readable: bool


def enterprise_token_credential(token: RetracedEnterpriseToken) -> EnterpriseTokenCredential:
    try:
        secret = secret_open(token.sealed_secret, purpose=ENTERPRISE_TOKEN_SEAL_PURPOSE)
    except SecretUnreadable:
        return EnterpriseTokenCredential(
            value=f"{UNREADABLE_TOKEN_PREFIX}{token.id}", readable=False
        )
    return EnterpriseTokenCredential(value=secret, readable=True)


def saved_exports_of_group(
    *, project: str, environment: str, group_id: str, limit: int | None = None
) -> QuerySet:
    limit = min(limit or GROUP_LIST_MAX, GROUP_LIST_MAX)
    return _in_group(
        RetracedSavedExport.objects.order_by("-saved_at", "id"),
        project=project,
        environment=environment,
        group_id=group_id,
    )[:limit]


def saved_export_of_group(
    *, export_id: str, project: str, environment: str, group_id: str
) -> RetracedSavedExport | None:
    return _in_group(
        RetracedSavedExport.objects.filter(pk=export_id),
        project=project,
        environment=environment,
        group_id=group_id,
    ).first()


def saved_search_of_token(
    *, saved_search_id: str, token: RetracedEnterpriseToken
) -> RetracedEnterpriseSavedSearch | None:
    return _in_group(
        RetracedEnterpriseSavedSearch.objects.filter(pk=saved_search_id),
        project=token.project,
        environment=token.environment,
        group_id=token.group_id,
    ).first()


def active_search_of_token(
    *, active_search_id: str, token: RetracedEnterpriseToken
) -> RetracedEnterpriseActiveSearch | None:
    return (
        _in_group(
            RetracedEnterpriseActiveSearch.objects.filter(pk=active_search_id),
            project=token.project,
            environment=token.environment,
            group_id=token.group_id,
        )
        .select_related("saved_search")
        .first()
    )


def active_search_page(
    *,
    active: RetracedEnterpriseActiveSearch,
    token: RetracedEnterpriseToken,
    page_size: int,
    resume: bool,
) -> list[AuditEvent]:
    """
    The next page of an active search, oldest first, from just after the last event sent
    (`resume`) or from the saved search's start. Keyed on (created_at, id), which the
    tenant index serves, so events sharing a millisecond are neither skipped nor repeated
    (Retraced resumes at the last event's time + 1 ms, and skips them). The token's own
    recorded reads are left out: each pull records one, and a cursor that returned them
    would never run dry.
    """
    saved = active.saved_search
    events = AuditEvent.objects.filter(
        project=active.project, environment=active.environment, group_id=active.group_id
    ).exclude(actor_id=token.access_actor_id, crud=Crud.READ)
    if saved.actions:
        events = events.filter(action__in=saved.actions)
    if saved.actor_ids:
        events = events.filter(actor_id__in=saved.actor_ids)
    if saved.start is not None:
        events = events.filter(created_at__gte=saved.start)
    if resume and active.after_created_at is not None:
        after = active.after_created_at
        events = events.filter(
            Q(created_at__gt=after) | Q(created_at=after, id__gt=active.after_event_id)
        )
    return list(events.order_by("created_at", "id")[: min(page_size, ACTIVE_SEARCH_PAGE_MAX)])
