"""
No API can change or remove an audit event: every read and ingest endpoint refuses PUT,
PATCH and DELETE, whoever asks, and the stored event stays exactly as it was.

A superuser gets 405 with `Allow`. A token, even one holding every audit scope, gets 403:
no scope is declared for those methods, and a method without a declared scope is for
console staff only (docs/internals.md, *Requests*); the scope check runs before DRF's
method check, so the token never learns more than "not for you".
"""

from typing import Any

import pytest
from rest_framework.test import APIClient

from audits.models import AuditEvent, AuditSource
from audits.services import audit_event_record
from integration_site.scopes import Scope

pytestmark = pytest.mark.django_db

AUDIT_SCOPES = [scope.value for scope in Scope if scope.value.startswith("audit:")]
METHODS = ["put", "patch", "delete"]
# {id} is the stored event's id.
PATHS = ["/api/audits/{id}", "/api/audits", "/audit/v1/event", "/audit/v1/event/bulk"]
TAMPERED = {"action": "tampered", "audited_changes": {}, "events": [{"action": "tampered"}]}


@pytest.fixture
def event() -> AuditEvent:
    return audit_event_record(
        action="license.install",
        source=AuditSource.SITE,
        audited_changes={"assignee": "Acme"},
    )


def _snapshot() -> list[dict[str, Any]]:
    return list(AuditEvent.objects.order_by("pk").values())


def _attempt(client: APIClient, method: str, path: str, event: AuditEvent):
    return getattr(client, method)(path.format(id=event.pk), TAMPERED, format="json")


def test_audit_scopes_cover_every_audit_scope() -> None:
    # If a new audit scope appears, the token below holds it too.
    assert set(AUDIT_SCOPES) >= {"audit:read", "audit:write", "audit:verify"}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", METHODS)
def test_superuser_cannot_update_or_delete_an_event(
    admin_client_api: APIClient, event: AuditEvent, method: str, path: str
) -> None:
    before = _snapshot()
    response = _attempt(admin_client_api, method, path, event)
    assert response.status_code == 405, response.content
    assert method.upper() not in response["Allow"]
    assert _snapshot() == before


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", METHODS)
def test_token_with_every_audit_scope_cannot_update_or_delete_an_event(
    token_client, event: AuditEvent, method: str, path: str
) -> None:
    client = token_client(*AUDIT_SCOPES)
    before = _snapshot()
    response = _attempt(client, method, path, event)
    assert response.status_code == 403, response.content
    assert b"console staff only" in response.content
    assert _snapshot() == before


def test_the_event_is_still_readable_and_unchanged_after_the_attempts(
    admin_client_api: APIClient, token_client, event: AuditEvent
) -> None:
    token = token_client(*AUDIT_SCOPES)
    for client in (admin_client_api, token):
        for method in METHODS:
            for path in PATHS:
                _attempt(client, method, path, event)
    response = token.get(f"/api/audits/{event.pk}")
    assert response.status_code == 200
    assert response.json()["action"] == "license.install"
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.action, stored.audited_changes) == ("license.install", {"assignee": "Acme"})
    assert not AuditEvent.objects.filter(action="tampered").exists()
