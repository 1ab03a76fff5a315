"""
The Enterprise IT API's credential and its persistent cursors: an enterprise token reaches
its own group's saved and active searches only, and never another group's events.
"""

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from audits.context import AuditActor
from audits.models import (
    ActorType,
    RetracedEnterpriseActiveSearch,
    RetracedEnterpriseSavedSearch,
)
from audits.services import audit_event_build, audit_events_append

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _event(group_id: str, action: str, *, at: datetime, actor_id: str = "u1", project="default"):
    event = audit_event_build(
        action=action,
        crud="c",
        actor=AuditActor(type=ActorType.INTEGRATION, id=actor_id, name=actor_id),
        group_id=group_id,
        created_at=at,
    )
    event.project, event.environment = project, "production"
    return audit_events_append([event])[0]


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] == status and body["type"] == "Error" and body["error"]
    return body


def _active_search(client, **saved) -> str:
    response = client.post("/enterprise/v1/search/saved", {"name": "pull", **saved}, format="json")
    assert response.status_code == 201, response.content
    response = client.post(
        "/enterprise/v1/search/active", {"saved_search_id": response.json()["id"]}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.parametrize(
    "header", ["", "token=", "Bearer abc", "token=0123456789abcdef0123456789abcdef"]
)
def test_enterprise_routes_refuse_a_missing_or_unknown_token(tenancy, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    _error(client.post("/enterprise/v1/search/saved", {"name": "x"}, format="json"), 401)


def test_an_api_token_is_not_an_enterprise_token(tenancy, make_token):
    _, secret = make_token("audit:read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token={secret}")
    _error(client.post("/enterprise/v1/search/saved", {"name": "x"}, format="json"), 401)


def test_token_token_form_is_accepted(enterprise_client):
    client = enterprise_client("group-a")
    secret = client._credentials["HTTP_AUTHORIZATION"].removeprefix("token=")
    client.credentials(HTTP_AUTHORIZATION=f"Token token={secret}")
    response = client.post("/enterprise/v1/search/saved", {"name": "x"}, format="json")
    assert response.status_code == 201


def test_saved_search_is_stored_in_the_tokens_group(enterprise_client):
    client = enterprise_client("group-a")
    response = client.post(
        "/enterprise/v1/search/saved",
        {
            "name": "logins",
            "actions": ["user.login"],
            "actor_ids": ["u1"],
            "start": "2026-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201
    saved = RetracedEnterpriseSavedSearch.objects.get(pk=response.json()["id"])
    assert (saved.project, saved.environment, saved.group_id) == (
        "default",
        "production",
        "group-a",
    )
    assert saved.actions == ["user.login"] and saved.actor_ids == ["u1"]
    assert saved.start == T0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": 5},
        {"name": "x", "actions": "user.login"},
        {"name": "x", "actions": [1]},
        {"name": "x", "start": "yesterday"},
        {"name": "x", "start": "2026-01-01T00:00:00"},  # no offset: whose midnight?
        {"name": "x", "start": "0001-01-01T00:00:00+05:00"},  # before year 1 in UTC
        {"name": "x", "actor_ids": ["a"] * 101},
    ],
)
def test_saved_search_bad_body_is_400(enterprise_client, body):
    client = enterprise_client("group-a")
    _error(client.post("/enterprise/v1/search/saved", body, format="json"), 400)
    assert not RetracedEnterpriseSavedSearch.objects.exists()


def test_another_groups_saved_search_cannot_be_activated(enterprise_client):
    a = enterprise_client("group-a")
    b = enterprise_client("group-b")
    saved = a.post("/enterprise/v1/search/saved", {"name": "x"}, format="json").json()["id"]
    response = b.post("/enterprise/v1/search/active", {"saved_search_id": saved}, format="json")
    _error(response, 404)
    _error(b.post("/enterprise/v1/search/active", {}, format="json"), 400)
    assert not RetracedEnterpriseActiveSearch.objects.exists()


def test_another_groups_active_search_cannot_be_deleted(enterprise_client):
    a = enterprise_client("group-a")
    b = enterprise_client("group-b")
    active = _active_search(a)
    _error(b.delete(f"/enterprise/v1/search/active/{active}"), 404)
    assert a.delete(f"/enterprise/v1/search/active/{active}").status_code == 204
    _error(a.delete(f"/enterprise/v1/search/active/{active}"), 404)
