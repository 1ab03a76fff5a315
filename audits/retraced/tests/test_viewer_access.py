"""
Viewer tokens, viewer sessions and their revocation, the publisher's enterprise-token routes,
and the viewer's enterprise tokens and saved exports: each reaches its own group only.
"""

from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audits.models import (
    AuditEvent,
    RetracedEnterpriseToken,
    RetracedSavedExport,
    RetracedViewerDescriptor,
    RetracedViewerRevocation,
)
from audits.retraced.authentication import secret_digest
from audits.retraced.viewer_services import viewer_access_purge, viewer_token_create

pytestmark = pytest.mark.django_db

EXPORT_BODY = {
    "version": 1,
    "searchQuery": "action:user.login",
    "showCreate": True,
    "showRead": False,
    "showUpdate": True,
    "showDelete": True,
}


def _retraced_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] == status and body["type"] == "Error" and body["error"]
    assert response["X-Retraced-RequestId"]
    return body


# --- The publisher's viewertoken ------------------------------------------------------------


def test_viewertoken_returns_201_and_stores_only_the_digest(publisher):
    response = publisher.get(
        "/publisher/v1/project/default/viewertoken",
        {"group_id": "group-a", "actor_id": "alice", "is_admin": "true", "target_id": "t1"},
    )
    assert response.status_code == 201
    token = response.json()["token"]
    descriptor = RetracedViewerDescriptor.objects.get()
    assert descriptor.digest == secret_digest(token) and token not in descriptor.digest
    assert (descriptor.project, descriptor.environment) == ("default", "production")
    assert (descriptor.group_id, descriptor.actor_id, descriptor.is_admin) == (
        "group-a",
        "alice",
        True,
    )
    assert descriptor.target_id == "t1"
    assert descriptor.view_log_action == "audit.log.view"


def test_viewertoken_accepts_team_id_for_the_group(publisher):
    response = publisher.get("/publisher/v1/project/default/viewertoken", {"team_id": "team-1"})
    assert response.status_code == 201
    assert RetracedViewerDescriptor.objects.get().group_id == "team-1"


def test_viewertoken_without_a_group_is_400(publisher):
    body = _retraced_error(publisher.get("/publisher/v1/project/default/viewertoken"), 400)
    assert "group_id" in body["error"]


@pytest.mark.parametrize(
    "query",
    [{"group_id": "g", "is_admin": "yes"}, {"group_id": "g" * 256}, {"group_id": ""}],
)
def test_viewertoken_bad_query_is_400(publisher, query):
    _retraced_error(publisher.get("/publisher/v1/project/default/viewertoken", query), 400)


def test_viewertoken_on_another_projects_path_is_401(publisher):
    response = publisher.get("/publisher/v1/project/other/viewertoken", {"group_id": "g"})
    _retraced_error(response, 401)
    assert not RetracedViewerDescriptor.objects.exists()


def test_viewertoken_needs_audit_read(tenancy, make_token):
    _, secret = make_token("audit:write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token={secret}")
    response = client.get("/publisher/v1/project/default/viewertoken", {"group_id": "g"})
    _retraced_error(response, 403)


# --- Viewer sessions -------------------------------------------------------------------------


def test_viewersession_exchanges_a_fresh_token_for_a_jwt(tenancy, settings):
    token = viewer_token_create(
        project="default", environment="production", group_id="group-a", actor_id="alice"
    )
    response = APIClient().post("/viewer/v1/viewersession", {"token": token}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["project_id"] == "default"
    header = jwt.get_unverified_header(body["token"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert (claims["groupId"], claims["actorId"]) == ("group-a", "alice")
    assert claims["exp"] - claims["iat"] == settings.RETRACED_VIEWER_SESSION_SECONDS
    assert response["Access-Control-Allow-Origin"] == "*"


def test_viewer_token_cannot_be_exchanged_after_its_window(tenancy, settings):
    token = viewer_token_create(project="default", environment="production", group_id="g")
    RetracedViewerDescriptor.objects.update(
        created_at=timezone.now() - timedelta(seconds=settings.RETRACED_VIEWER_TOKEN_SECONDS + 1)
    )
    response = APIClient().post("/viewer/v1/viewersession", {"token": token}, format="json")
    _retraced_error(response, 401)


def test_unknown_viewer_token_is_401(tenancy):
    response = APIClient().post("/viewer/v1/viewersession", {"token": "0" * 32}, format="json")
    _retraced_error(response, 401)


@pytest.mark.parametrize("body", [{}, {"token": 5}, {"token": ""}, {"token": "x" * 300}])
def test_viewersession_bad_body_is_400(tenancy, body):
    response = APIClient().post("/viewer/v1/viewersession", body, format="json")
    _retraced_error(response, 400)


def test_viewer_route_without_a_session_is_401(tenancy):
    response = APIClient().get("/viewer/v1/project/default/exports")
    _retraced_error(response, 401)
    assert response["Access-Control-Allow-Origin"] == "*"


def test_expired_viewer_session_is_401(viewer_session, settings):
    settings.RETRACED_VIEWER_SESSION_SECONDS = -1  # every session issued now is already dead
    client = viewer_session("group-a")
    body = _retraced_error(client.get("/viewer/v1/project/default/exports"), 401)
    assert "expired" in body["error"]


def test_forged_viewer_session_is_401(viewer_session):
    client = viewer_session("group-a")
    claims = jwt.decode(client.jwt, options={"verify_signature": False})
    claims["groupId"] = "group-b"
    forged = jwt.encode(claims, "not the key", algorithm="HS256")
    client.credentials(HTTP_AUTHORIZATION=forged)
    _retraced_error(client.get("/viewer/v1/project/default/exports"), 401)
    unsigned = jwt.encode(claims, None, algorithm="none")
    client.credentials(HTTP_AUTHORIZATION=unsigned)
    _retraced_error(client.get("/viewer/v1/project/default/exports"), 401)


def test_revoked_viewer_session_is_401_and_others_live_on(viewer_session, publisher):
    alice = viewer_session("group-a", actor_id="alice")
    bob = viewer_session("group-a", actor_id="bob")
    pending = viewer_token_create(
        project="default", environment="production", group_id="group-a", actor_id="alice"
    )
    response = publisher.delete(
        "/viewer/v1/project/default/group/group-a/actor/alice/viewersessions"
    )
    assert response.status_code == 200 and response.content == b""
    revoked = AuditEvent.objects.get(action="viewer_sessions.revoke")
    assert (revoked.group_id, revoked.target_id, revoked.crud) == ("group-a", "alice", "d")
    assert revoked.actor_id.startswith("token:")
    body = _retraced_error(alice.get("/viewer/v1/project/default/exports"), 401)
    assert "revoked" in body["error"]
    assert bob.get("/viewer/v1/project/default/exports").status_code == 200
    # A token minted before the revocation and not yet exchanged is void too.
    response = APIClient().post("/viewer/v1/viewersession", {"token": pending}, format="json")
    _retraced_error(response, 401)
    # A session from a token minted afterwards works.
    again = viewer_session("group-a", actor_id="alice")
    assert again.get("/viewer/v1/project/default/exports").status_code == 200


def test_revoking_sessions_needs_the_projects_token(viewer_session, publisher):
    _retraced_error(
        publisher.delete("/viewer/v1/project/other/group/g/actor/alice/viewersessions"), 401
    )
    response = APIClient().delete("/viewer/v1/project/default/group/g/actor/alice/viewersessions")
    _retraced_error(response, 401)
    assert not RetracedViewerRevocation.objects.exists()


def test_cors_preflight_is_answered_without_credentials(tenancy):
    for path in (
        "/viewer/v1/viewersession",
        "/viewer/v1/project/default/exports",
        "/viewer/v1/project/default/eitapi_token/abc",
    ):
        response = APIClient().options(
            path,
            HTTP_ORIGIN="https://vendor.example",
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
        )
        assert response.status_code == 204, path
        assert response["Access-Control-Allow-Origin"] == "*"
        assert "Authorization" in response["Access-Control-Allow-Headers"]
        assert "Content-Disposition" in response["Access-Control-Expose-Headers"]


def test_purge_forgets_dead_viewer_tokens_and_stale_revocations(tenancy, settings):
    viewer_token_create(project="default", environment="production", group_id="g")
    fresh = viewer_token_create(project="default", environment="production", group_id="g")
    RetracedViewerDescriptor.objects.exclude(digest=secret_digest(fresh)).update(
        created_at=timezone.now() - timedelta(seconds=settings.RETRACED_VIEWER_TOKEN_SECONDS)
    )
    RetracedViewerRevocation.objects.create(
        project="default",
        environment="production",
        group_id="g",
        actor_id="a",
        revoked_at=timezone.now() - timedelta(seconds=settings.RETRACED_VIEWER_SESSION_SECONDS + 1),
    )
    assert viewer_access_purge() == 2
    assert list(RetracedViewerDescriptor.objects.values_list("digest", flat=True)) == [
        secret_digest(fresh)
    ]
    assert not RetracedViewerRevocation.objects.exists()


# --- The viewer's path names its own project -----------------------------------------------


def test_a_path_naming_another_project_is_404(viewer_session):
    client = viewer_session("group-a")
    for path in ("/viewer/v1/project/other/exports", "/viewer/v1/project/other/eitapi_tokens"):
        _retraced_error(client.get(path), 404)
    response = client.post(
        "/viewer/v1/project/other/export", {"name": "x", "exportBody": EXPORT_BODY}, format="json"
    )
    _retraced_error(response, 404)
    assert not RetracedSavedExport.objects.exists()


# --- Enterprise tokens, through the viewer --------------------------------------------------


def test_viewer_manages_only_its_groups_enterprise_tokens(viewer_session):
    a = viewer_session("group-a")
    b = viewer_session("group-b")
    created = a.post(
        "/viewer/v1/project/default/eitapi_token", {"displayName": "Splunk"}, format="json"
    )
    assert created.status_code == 201
    token = created.json()
    assert token["display_name"] == "Splunk" and token["group_id"] == "group-a"
    assert token["project_id"] == "default" and token["environment_id"] == "production"
    assert token["view_log_action"] == "audit.log.view"
    stored = RetracedEnterpriseToken.objects.get()
    # The listed id is the credential, as in Retraced; the public id is the row's key.
    assert stored.digest == secret_digest(token["id"])
    assert token["public_id"] == stored.id and token["secret_readable"] is True

    listed = a.get("/viewer/v1/project/default/eitapi_tokens").json()
    assert [(t["id"], t["display_name"]) for t in listed] == [(token["id"], "Splunk")]
    # Group B's viewer neither sees nor touches it.
    assert b.get("/viewer/v1/project/default/eitapi_tokens").json() == []
    path = f"/viewer/v1/project/default/eitapi_token/{token['id']}"
    _retraced_error(b.put(path, {"displayName": "mine"}, format="json"), 404)
    _retraced_error(b.delete(path), 404)
    assert RetracedEnterpriseToken.objects.get().display_name == "Splunk"

    renamed = a.put(path, {"displayName": "Splunk prod", "id": token["id"]}, format="json")
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "Splunk prod"
    assert a.delete(path).status_code == 204
    assert not RetracedEnterpriseToken.objects.exists()

    actions = list(
        AuditEvent.objects.filter(group_id="group-a").order_by("id").values_list("action", "crud")
    )
    assert actions == [
        ("eitapi_token.create", "c"),
        ("eitapi_tokens.list", "r"),
        ("eitapi_token.update", "u"),
        ("eitapi_token.delete", "d"),
    ]
    event = AuditEvent.objects.get(action="eitapi_token.create")
    assert (event.actor_id, event.project, event.environment) == (
        "customer@a",
        "default",
        "production",
    )


@pytest.mark.parametrize("body", [{}, {"displayName": ""}, {"displayName": ["x"]}])
def test_eitapi_token_bad_body_is_400(viewer_session, body):
    client = viewer_session("group-a")
    response = client.post("/viewer/v1/project/default/eitapi_token", body, format="json")
    _retraced_error(response, 400)


# --- Saved exports ---------------------------------------------------------------------------


def test_saved_exports_are_the_groups_own(viewer_session):
    a = viewer_session("group-a")
    b = viewer_session("group-b")
    created = a.post(
        "/viewer/v1/project/default/export",
        {"name": "Logins", "exportBody": {**EXPORT_BODY, "startTime": 1700000000000}},
        format="json",
    )
    assert created.status_code == 201
    export = created.json()
    assert export["name"] == "Logins" and export["group_id"] == "group-a"
    assert export["body"]["searchQuery"] == "action:user.login"
    assert export["body"]["startTime"] == 1700000000000

    listed = a.get("/viewer/v1/project/default/exports", {"limit": ""}).json()
    assert [e["id"] for e in listed] == [export["id"]]
    assert b.get("/viewer/v1/project/default/exports").json() == []
    path = f"/viewer/v1/project/default/export/{export['id']}"
    _retraced_error(b.put(path, {"exportBody": EXPORT_BODY}, format="json"), 404)

    updated = a.put(path, {"exportBody": {**EXPORT_BODY, "searchQuery": "crud:d"}}, format="json")
    assert updated.status_code == 204
    stored = RetracedSavedExport.objects.get()
    assert stored.body["searchQuery"] == "crud:d" and stored.version == 2


def test_exports_list_honours_its_limit(viewer_session):
    a = viewer_session("group-a")
    for name in ("one", "two", "three"):
        a.post(
            "/viewer/v1/project/default/export",
            {"name": name, "exportBody": EXPORT_BODY},
            format="json",
        )
    assert len(a.get("/viewer/v1/project/default/exports", {"limit": 2}).json()) == 2
    _retraced_error(a.get("/viewer/v1/project/default/exports", {"limit": "x"}), 400)
    _retraced_error(a.get("/viewer/v1/project/default/exports", {"limit": 0}), 400)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {"name": "x", "exportBody": {"version": 2}},
        {"name": "x", "exportBody": {**EXPORT_BODY, "startTime": "yesterday"}},
        {"name": "x", "exportBody": {**EXPORT_BODY, "endTime": -5}},
        {"name": "x", "exportBody": {**EXPORT_BODY, "startTime": "0001-01-01T00:00:00+05:00"}},
        {"name": "x", "exportBody": {**EXPORT_BODY, "startTime": "2026-01-01T00:00:00"}},
        {"name": "x", "exportBody": {**EXPORT_BODY, "endTime": 1e300}},
        {"name": "x", "exportBody": {**EXPORT_BODY, "showRead": "perhaps"}},
        {"name": "", "exportBody": EXPORT_BODY},
        {"name": "x", "exportBody": {**EXPORT_BODY, "searchQuery": "q" * 3000}},
    ],
)
def test_export_bad_body_is_400(viewer_session, body):
    client = viewer_session("group-a")
    response = client.post("/viewer/v1/project/default/export", body, format="json")
    _retraced_error(response, 400)
    assert not RetracedSavedExport.objects.exists()


# --- The publisher's enterprise tokens ------------------------------------------------------


def test_publisher_enterprise_token_crud(publisher):
    base = "/publisher/v1/project/default/group/group-a/enterprisetoken"
    created = publisher.post(base, {"display_name": "SIEM"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["display_name"] == "SIEM" and body["view_log_action"] == "audit.log.view"
    assert RetracedEnterpriseToken.objects.get(pk=body["id"]).digest == secret_digest(body["token"])
    listed = publisher.get(base).json()
    assert listed == [
        {
            "token": body["token"],
            "id": body["id"],
            "secret_readable": True,
            "display_name": "SIEM",
            "view_log_action": "audit.log.view",
        }
    ]
    # Another group's path does not reach it.
    other = "/publisher/v1/project/default/group/group-b/enterprisetoken"
    assert publisher.get(other).json() == []
    _retraced_error(publisher.get(f"{other}/{body['id']}"), 404)
    _retraced_error(publisher.delete(f"{other}/{body['id']}"), 404)
    _retraced_error(
        publisher.put(f"{other}/{body['id']}", {"display_name": "x"}, format="json"), 404
    )

    one = publisher.get(f"{base}/{body['id']}")
    assert one.status_code == 200 and one.json()["id"] == body["id"]
    updated = publisher.put(
        f"{base}/{body['id']}",
        {"display_name": "SIEM 2", "view_log_action": "siem.read"},
        format="json",
    )
    assert updated.json() == {
        "token": body["token"],
        "id": body["id"],
        "secret_readable": True,
        "display_name": "SIEM 2",
        "view_log_action": "siem.read",
    }
    assert publisher.delete(f"{base}/{body['id']}").status_code == 204
    _retraced_error(publisher.get(f"{base}/{body['id']}"), 404)
    # Each change is in the group's own log, by the API token, naming the public id only.
    changes = AuditEvent.objects.filter(action__startswith="eitapi_token.").order_by("id")
    assert [(e.action, e.crud, e.group_id, e.target_id) for e in changes] == [
        ("eitapi_token.create", "c", "group-a", body["id"]),
        ("eitapi_token.update", "u", "group-a", body["id"]),
        ("eitapi_token.delete", "d", "group-a", body["id"]),
    ]
    assert all(e.actor_id.startswith("token:test-token-") for e in changes)
    assert not AuditEvent.objects.filter(description__contains=body["token"]).exists()


def test_publisher_enterprise_token_bad_input_is_400(publisher):
    base = "/publisher/v1/project/default/group/group-a/enterprisetoken"
    _retraced_error(publisher.post(base, {}, format="json"), 400)
    _retraced_error(publisher.post(base, {"display_name": 7}, format="json"), 400)
    long_group = "/publisher/v1/project/default/group/" + "g" * 300 + "/enterprisetoken"
    _retraced_error(publisher.post(long_group, {"display_name": "x"}, format="json"), 400)
    assert not RetracedEnterpriseToken.objects.exists()


def test_publisher_enterprise_tokens_of_another_project_are_401(publisher):
    response = publisher.get("/publisher/v1/project/other/group/g/enterprisetoken")
    _retraced_error(response, 401)


def test_staff_user_on_an_unknown_project_is_404(tenancy, admin_client_api):
    response = admin_client_api.get("/publisher/v1/project/nope/viewertoken", {"group_id": "g"})
    _retraced_error(response, 404)
