"""
An enterprise token's id, as the logs viewer lists it, is its working credential (Retraced's
behaviour), while the database holds the secret sealed only; a secret the site can no longer
open is listed with a marker and stays manageable; neither the audit trail nor the logs
ever hold it.
"""

import json
import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import override_settings
from gunicorn.config import Config
from rest_framework.test import APIClient

from audits.context import AuditActor
from audits.models import ActorType, AuditEvent, RetracedEnterpriseToken
from audits.services import audit_event_build, audit_events_append
from integration_site.gunicorn_conf import SecretPathMaskingLogger
from integration_site.log_masking import SecretPathFilter

pytestmark = pytest.mark.django_db

VIEWER_TOKENS = "/viewer/v1/project/default/eitapi_tokens"
VIEWER_TOKEN = "/viewer/v1/project/default/eitapi_token"
PUBLISHER_TOKENS = "/publisher/v1/project/default/group/{}/enterprisetoken"
SEARCH = 'query { search(query: "", last: 50) { totalCount edges { node { action } } } }'


def _event(group_id: str, action: str) -> None:
    event = audit_event_build(
        action=action,
        crud="c",
        actor=AuditActor(type=ActorType.INTEGRATION, id="u1", name="u1"),
        group_id=group_id,
    )
    event.project, event.environment = "default", "production"
    audit_events_append([event])


def _enterprise_search(credential: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token={credential}")
    return client.post("/enterprise/v1/graphql", {"query": SEARCH}, format="json")


def _listed(viewer) -> list[dict]:
    response = viewer.get(VIEWER_TOKENS)
    assert response.status_code == 200, response.content
    return response.json()


def _viewer_create(viewer, name: str = "Splunk") -> dict:
    response = viewer.post(VIEWER_TOKEN, {"displayName": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_token_listed_by_the_viewer_authenticates_on_the_enterprise_api(viewer_session):
    _event("group-a", "a.create")
    _event("group-b", "b.create")
    viewer = viewer_session("group-a")
    created = _viewer_create(viewer)
    # The widget discards the create response and copies the listed id, as Retraced's does.
    [listed] = _listed(viewer)
    assert listed["id"] == created["id"] and listed["secret_readable"] is True

    response = _enterprise_search(listed["id"])
    assert response.status_code == 200, response.content
    actions = {edge["node"]["action"] for edge in response.json()["data"]["search"]["edges"]}
    assert "a.create" in actions and "b.create" not in actions
    # The public id names the token in the trail; it is not a credential.
    assert _enterprise_search(listed["public_id"]).status_code == 401


def test_the_publisher_token_field_authenticates_in_every_answer(publisher, tenancy):
    base = PUBLISHER_TOKENS.format("group-a")
    created = publisher.post(base, {"display_name": "SIEM"}, format="json").json()
    [listed] = publisher.get(base).json()
    one = publisher.get(f"{base}/{created['token']}").json()
    assert created["token"] == listed["token"] == one["token"]
    assert _enterprise_search(listed["token"]).status_code == 200


def test_the_database_row_holds_no_clear_secret(viewer_session):
    viewer = viewer_session("group-a")
    secret = _viewer_create(viewer)["id"]
    row = RetracedEnterpriseToken.objects.values().get()
    assert secret not in json.dumps(row, default=str)
    assert row["sealed_secret"] and row["digest"] != secret
    # Nor in any column of the raw table, whatever the ORM would make of it.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {RetracedEnterpriseToken._meta.db_table}")
        assert all(secret not in str(value) for value in cursor.fetchone())


def test_the_trail_never_records_the_secret(viewer_session):
    viewer = viewer_session("group-a")
    secret = _viewer_create(viewer)["id"]
    _listed(viewer)
    path = f"{VIEWER_TOKEN}/{secret}"
    assert viewer.put(path, {"displayName": "Splunk 2"}, format="json").status_code == 200
    assert _enterprise_search(secret).status_code == 200
    assert viewer.delete(path).status_code == 204

    events = list(AuditEvent.objects.filter(group_id="group-a").values())
    assert {e["action"] for e in events} >= {
        "eitapi_token.create",
        "eitapi_tokens.list",
        "eitapi_token.update",
        "eitapi_token.delete",
        "audit.log.view",
    }
    assert secret not in json.dumps(events, default=str)


def test_paths_accept_the_secret_and_the_public_id(viewer_session, publisher):
    viewer = viewer_session("group-a")
    created = _viewer_create(viewer)
    by_secret = viewer.put(f"{VIEWER_TOKEN}/{created['id']}", {"displayName": "A"}, format="json")
    assert by_secret.status_code == 200 and by_secret.json()["display_name"] == "A"
    by_id = viewer.put(
        f"{VIEWER_TOKEN}/{created['public_id']}", {"displayName": "B"}, format="json"
    )
    assert by_id.status_code == 200 and by_id.json()["id"] == created["id"]
    base = PUBLISHER_TOKENS.format("group-a")
    assert publisher.get(f"{base}/{created['id']}").json()["display_name"] == "B"
    assert publisher.delete(f"{base}/{created['public_id']}").status_code == 204
    assert not RetracedEnterpriseToken.objects.exists()


def test_another_groups_secret_in_a_path_is_404(viewer_session, publisher):
    secret = _viewer_create(viewer_session("group-a"))["id"]
    other_viewer = viewer_session("group-b")
    assert (
        other_viewer.put(
            f"{VIEWER_TOKEN}/{secret}", {"displayName": "mine"}, format="json"
        ).status_code
        == 404
    )
    assert other_viewer.delete(f"{VIEWER_TOKEN}/{secret}").status_code == 404
    assert _listed(other_viewer) == []
    other = PUBLISHER_TOKENS.format("group-b")
    assert publisher.get(f"{other}/{secret}").status_code == 404
    assert publisher.delete(f"{other}/{secret}").status_code == 404
    assert RetracedEnterpriseToken.objects.get().display_name == "Splunk"


def test_a_secret_sealed_under_another_key_is_listed_marked_and_stays_manageable(
    viewer_session, publisher
):
    viewer = viewer_session("group-a")
    created = _viewer_create(viewer)
    with override_settings(SECRET_KEY="a-rotated-key-without-the-old-one-as-fallback"):
        # A new session: the old one was signed with a key derived from the old SECRET_KEY.
        viewer = viewer_session("group-a")
        [listed] = _listed(viewer)
        assert listed["secret_readable"] is False and listed["public_id"] == created["public_id"]
        # The widget shows only id and name: the marker is in the id.
        assert listed["id"] == f"unreadable-{created['public_id']}"
        [published] = publisher.get(PUBLISHER_TOKENS.format("group-a")).json()
        assert (published["token"], published["secret_readable"]) == (listed["id"], False)
        assert _enterprise_search(listed["id"]).status_code == 401
        # Its holder still authenticates: lookup is by digest, not by decryption.
        assert _enterprise_search(created["id"]).status_code == 200
        path = f"{VIEWER_TOKEN}/{listed['id']}"
        renamed = viewer.put(path, {"displayName": "old"}, format="json")
        assert renamed.status_code == 200 and renamed.json()["secret_readable"] is False
        assert viewer.delete(path).status_code == 204
    assert not RetracedEnterpriseToken.objects.exists()


def test_a_rotated_key_kept_as_fallback_still_opens_the_secret(viewer_session, settings):
    viewer = viewer_session("group-a")
    created = _viewer_create(viewer)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the-new-key"
    [listed] = _listed(viewer_session("group-a"))
    assert (listed["id"], listed["secret_readable"]) == (created["id"], True)


def test_a_token_from_before_sealed_secrets_is_marked(viewer_session, publisher):
    viewer = viewer_session("group-a")
    created = _viewer_create(viewer)
    # What migration 0017 leaves a token created before it: the digest, no sealed secret.
    RetracedEnterpriseToken.objects.update(sealed_secret="")
    [listed] = _listed(viewer)
    assert (listed["id"], listed["secret_readable"]) == (
        f"unreadable-{created['public_id']}",
        False,
    )
    assert _enterprise_search(created["id"]).status_code == 200
    base = PUBLISHER_TOKENS.format("group-a")
    assert publisher.delete(f"{base}/{listed['id']}").status_code == 204


def test_the_request_log_prints_a_secret_path_redacted(viewer_session, publisher, caplog):
    # settings.LOGGING puts the filter on the root's console handler, which sees Django's
    # "Not Found: <path>" record before pytest's capture does.
    assert any(
        isinstance(log_filter, SecretPathFilter)
        for handler in logging.getLogger().handlers
        for log_filter in handler.filters
    )
    secret = _viewer_create(viewer_session("group-a"))["id"]
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = publisher.get(f"{PUBLISHER_TOKENS.format('group-b')}/{secret}")
    assert response.status_code == 404
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage().endswith("/group-b/enterprisetoken/[redacted]")
    assert secret not in caplog.text


def test_the_access_log_prints_a_secret_path_redacted():
    secret = "0123456789abcdef0123456789abcdef"
    path = f"/viewer/v1/project/default/eitapi_token/{secret}"
    logger = SecretPathMaskingLogger(Config())
    response = SimpleNamespace(status="204 No Content", headers=[], sent=0)
    environ = {
        "REQUEST_METHOD": "DELETE",
        "RAW_URI": path,
        "PATH_INFO": path,
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    atoms = logger.atoms(response, SimpleNamespace(headers=[]), environ, timedelta(0))
    assert atoms["r"] == "DELETE /viewer/v1/project/default/eitapi_token/[redacted] HTTP/1.1"
    assert secret not in json.dumps(atoms, default=str)
    plain = {**environ, "RAW_URI": "/viewer/v1/project/default/eitapi_tokens"}
    assert logger.atoms(response, SimpleNamespace(headers=[]), plain, timedelta(0))["r"] == (
        "DELETE /viewer/v1/project/default/eitapi_tokens HTTP/1.1"
    )


def test_the_access_log_prints_a_viewer_session_in_the_query_redacted():
    # logs-viewer's legacy CSV link carries the session JWT as `?jwt=`.
    session = "eyJhbGciOiJIUzI1NiJ9.eyJncm91cCI6ImEifQ.c2lnbmF0dXJl"
    path = f"/viewer/v1/project/default/export/7/rendered?format=csv&jwt={session}&x=1"
    logger = SecretPathMaskingLogger(Config())
    response = SimpleNamespace(status="200 OK", headers=[], sent=0)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": path, "SERVER_PROTOCOL": "HTTP/1.1"}
    atoms = logger.atoms(response, SimpleNamespace(headers=[]), environ, timedelta(0))
    assert atoms["r"] == (
        "GET /viewer/v1/project/default/export/7/rendered?format=csv&jwt=[redacted]&x=1 HTTP/1.1"
    )
    assert session not in json.dumps(atoms, default=str)
