"""
Retraced's publisher API, events: POST /publisher/v1/project/<id>/event and .../event/bulk.
What the official clients rely on (201 {id, hash} with a hash they recompute, bulk in input
order, both Authorization forms, 401 for another project's key), Retraced's validation, and
what the site adds: the event stored in the key's tenancy, in the hash chain.
"""

import hashlib
import json
import re

import pytest
from rest_framework.test import APIClient

from audits.chain import audit_chain_verify, chain_link_pending
from audits.models import AuditEvent, AuditSource, Environment, Project

pytestmark = pytest.mark.django_db

URL = "/publisher/v1/project/{}/event"
DEFAULT_URL = URL.format("default")
BULK_URL = "/publisher/v1/project/{}/event/bulk"
EVENT = {
    "action": "document.share",
    "crud": "u",
    "group": {"id": "acme-corp", "name": "Acme Corp"},
    "actor": {"id": "user-1", "name": "Ada", "href": "https://app.example/u/1"},
    "target": {"id": "doc:7", "name": "Plan", "type": "document"},
    "source_ip": "2001:0db8:0000:0000:0000:0000:0000:0001",
    "description": "Shared the plan",
    "created": "2026-01-31T12:00:00Z",
    "is_failure": False,
    "fields": {"permission": "view=edit;", "z": "100%"},
    "external_id": "ext-9",
    "metadata": {"trace": "abc"},
    "component": "web",
    "version": "0a1b2c",
}


def client_for(secret: str, header: str = "token={}") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.format(secret))
    return client


@pytest.fixture
def acme(db):
    project = Project.objects.create(pk="acme", name="Acme")
    Environment.objects.create(project=project, slug="staging", name="Staging")
    return project


@pytest.fixture
def writer(make_token):
    _, secret = make_token("audit:write")
    return client_for(secret)


def post(client, data, url=DEFAULT_URL, **extra):
    body = data if isinstance(data, str | bytes) else json.dumps(data)
    return client.generic("POST", url, body, content_type="application/json", **extra)


def independent_hash(event_id: str, canonical: str) -> str:
    return hashlib.sha256(f"{event_id}:{canonical}".encode()).hexdigest()


def test_event_returns_201_id_and_the_hash_the_client_computes(writer, through_drf):
    response = post(writer, EVENT)
    assert response.status_code == 201, response.content
    assert through_drf == []  # served by the fast path
    receipt = response.json()
    assert re.fullmatch(r"[0-9a-f]{32}", receipt["id"])
    # Written out by hand from retraced-js buildHashTarget: the IPv6 address as sent.
    canonical = (
        "document.share:doc%3A7:user-1:acme-corp:2001%3A0db8%3A0000%3A0000%3A0000%3A0000%3A"
        "0000%3A0001:0:0:permission=view%3Dedit%3B;z=100%25;:ext-9:trace=abc;"
    )
    assert receipt["hash"] == independent_hash(receipt["id"], canonical)
    assert response["Content-Length"] == str(len(response.content))
    assert response["X-Retraced-RequestId"]


def test_stored_event_carries_tenancy_ids_and_receipt(writer):
    receipt = post(writer, EVENT).json()
    event = AuditEvent.objects.get(retraced_id=receipt["id"])
    assert (event.project, event.environment) == ("default", "production")
    assert event.receipt_hash == receipt["hash"]
    assert event.source == AuditSource.INTEGRATION
    assert (event.action, event.crud, event.group_id, event.group_name) == (
        "document.share",
        "u",
        "acme-corp",
        "Acme Corp",
    )
    assert (event.actor_id, event.actor_name, event.target_id) == ("user-1", "Ada", "doc:7")
    assert event.remote_address == "2001:db8::1"  # stored compressed, hashed as sent
    assert event.fields == EVENT["fields"] and event.metadata == {"trace": "abc"}
    assert (event.external_id, event.component, event.component_version) == (
        "ext-9",
        "web",
        "0a1b2c",
    )


def test_the_chain_covers_published_events(writer):
    post(writer, EVENT)
    post(writer, {"events": [EVENT, {**EVENT, "action": "b"}]}, BULK_URL.format("default"))
    chain_link_pending()
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 0
    result = audit_chain_verify()
    assert result.ok, result.message
    assert AuditEvent.objects.exclude(retraced_id="").count() == 3


def test_a_single_event_is_stored_pending_and_a_bulk_batch_linked_at_once(writer):
    # A bulk batch pending would be written twice (the linker's UPDATE), and the linker fell
    # behind pending bulk: it is linked in its own transaction, the receipts unchanged.
    single = post(writer, EVENT).json()
    assert AuditEvent.objects.get(retraced_id=single["id"]).seq is None
    batch = [{**EVENT, "action": f"bulk.{i}"} for i in range(25)]  # COPY_MIN_EVENTS and more
    receipts = post(writer, {"events": batch}, BULK_URL.format("default")).json()
    # A linked append links the pending events it sees first.
    assert AuditEvent.objects.get(retraced_id=single["id"]).seq is not None
    stored = AuditEvent.objects.filter(retraced_id__in=[r["id"] for r in receipts])
    assert stored.count() == 25 and not stored.filter(seq__isnull=True).exists()
    assert sorted(stored.values_list("receipt_hash", flat=True)) == sorted(
        r["hash"] for r in receipts
    )
    result = audit_chain_verify()
    assert result.ok, result.message


@pytest.mark.parametrize("header", ["token={}", "Token token={}"])
def test_both_retraced_authorization_forms_work(make_token, header):
    _, secret = make_token("audit:write")
    response = post(client_for(secret, header), EVENT)
    assert response.status_code == 201


def test_token_of_another_project_gets_401_on_both_paths(make_token, acme):
    _, secret = make_token("audit:write", project="acme", environment="staging")
    client = client_for(secret)
    for url in (URL.format("default"), BULK_URL.format("default")):
        body = EVENT if url.endswith("event") else {"events": [EVENT]}
        response = post(client, body, url)
        assert response.status_code == 401
        assert response.json()["type"] == "Error"
        assert "acme" in response.json()["error"]
    assert not AuditEvent.objects.exclude(retraced_id="").exists()


def test_token_stores_in_its_own_project_and_environment(make_token, acme):
    _, secret = make_token("audit:write", project="acme", environment="staging")
    receipt = post(client_for(secret), EVENT, URL.format("acme")).json()
    event = AuditEvent.objects.get(retraced_id=receipt["id"])
    assert (event.project, event.environment) == ("acme", "staging")
    chain_link_pending()
    assert audit_chain_verify().ok


def test_without_the_write_scope_is_403(make_token):
    _, secret = make_token("audit:read")
    response = post(client_for(secret), EVENT)
    assert response.status_code == 403
    assert set(response.json()) >= {"status", "type", "error"}


def test_no_credentials_is_401(api_client):
    assert post(api_client, EVENT).status_code == 401


def test_a_user_may_publish_to_an_existing_project_only(admin_client_api, acme):
    response = post(admin_client_api, EVENT, URL.format("acme"))
    assert response.status_code == 404
    assert "acme" in response.json()["error"]
    response = post(admin_client_api, EVENT, URL.format("default"))
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"crud": None}, "crud"),
        ({"crud": "x"}, "crud"),
        ({"crud": ["c"]}, "crud"),
        ({"actor": None}, "actor"),
        ({"actor": {}}, "actor"),
        ({"actor": {"name": "no id"}}, "actor.id"),
        ({"group": {"name": "no id"}}, "group.id"),
        ({"target": {"id": ""}}, "target.id"),
        ({"action": None}, "action"),
        ({"action": ""}, "action"),
        ({"action": 7}, "action"),
        ({"name": "user.login"}, "name"),
        ({"title": "Login"}, "title"),
        ({"ip_address": "1.2.3.4"}, "ip_address"),
        ({"teamId": "t"}, "teamId"),
        ({"actor": {"id": "u", "displayName": "x"}}, "actor.displayName"),
        ({"source_ip": "999.1.1.1"}, "source_ip"),
        ({"source_ip": "not an ip"}, "source_ip"),
        ({"created": "yesterday"}, "created"),
        ({"fields": {"n": 5}}, "fields.n"),
        ({"fields": {"b": True}}, "fields.b"),
        ({"metadata": {"x": None}}, "metadata.x"),
        ({"actor": {"id": "u", "fields": {"n": 1}}}, "actor.fields.n"),
        ({"fields": ["a"]}, "fields"),
        ({"is_anonymous": "true"}, "is_anonymous"),
    ],
)
def test_invalid_event_is_400_naming_the_field(writer, change, field):
    event = {**EVENT, **change}
    event = {k: v for k, v in event.items() if v is not None}
    response = post(writer, event)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] == 400 and body["type"] == "Error"
    assert field in body["invalid"], body
    assert not AuditEvent.objects.exclude(retraced_id="").exists()


def test_anonymous_event_needs_no_actor(writer):
    event = {k: v for k, v in EVENT.items() if k != "actor"}
    response = post(writer, {**event, "is_anonymous": True})
    assert response.status_code == 201
    receipt = response.json()
    assert receipt["hash"] == independent_hash(
        receipt["id"],
        "document.share:doc%3A7::acme-corp:2001%3A0db8%3A0000%3A0000%3A0000%3A0000%3A0000%3A0001"
        ":0:1:permission=view%3Dedit%3B;z=100%25;:ext-9:trace=abc;",
    )


def test_minimal_event_hash_appends_the_colon_for_absent_fields(writer):
    receipt = post(writer, {"action": "user login", "crud": "c", "actor": {"id": "u"}}).json()
    assert receipt["hash"] == independent_hash(receipt["id"], "user login::u:::0:0::")


def test_not_json_is_400_in_retraced_shape(writer):
    response = post(writer, "{nope")
    assert response.status_code == 400
    assert response.json()["type"] == "Error"


def test_idempotency_key_replays_the_same_receipt(writer):
    first = post(writer, EVENT, HTTP_IDEMPOTENCY_KEY="k-1")
    again = post(writer, EVENT, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(retraced_id=first.json()["id"]).count() == 1
    other = post(writer, {**EVENT, "action": "x"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422
    assert other.json()["type"] == "Error"


# --- Bulk -------------------------------------------------------------------------------


def test_bulk_returns_receipts_in_input_order(writer):
    events = [{**EVENT, "action": f"a.{i}"} for i in range(5)]
    response = post(writer, {"events": events}, BULK_URL.format("default"))
    assert response.status_code == 201, response.content
    receipts = response.json()
    assert len(receipts) == 5
    for i, receipt in enumerate(receipts):
        stored = AuditEvent.objects.get(retraced_id=receipt["id"])
        assert stored.action == f"a.{i}"
        assert stored.receipt_hash == receipt["hash"]
        canonical = (
            f"a.{i}:doc%3A7:user-1:acme-corp:2001%3A0db8%3A0000%3A0000%3A0000%3A0000%3A0000%3A"
            "0001:0:0:permission=view%3Dedit%3B;z=100%25;:ext-9:trace=abc;"
        )
        assert receipt["hash"] == independent_hash(receipt["id"], canonical)


def test_bulk_with_one_bad_event_stores_none_and_lists_it(writer):
    events = [EVENT, {**EVENT, "crud": None}, EVENT, {"action": "a", "crud": "c", "title": "t"}]
    events = [{k: v for k, v in e.items() if v is not None} for e in events]
    response = post(writer, {"events": events}, BULK_URL.format("default"))
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith("One or more invalid inputs, no events were logged")
    assert [entry["index"] for entry in body["invalid"]] == [1, 3]
    fields = {v["field"] for v in body["invalid"][1]["violations"]}
    assert fields == {"title", "actor"}
    assert body["invalid"][0]["violations"][0]["field"] == "crud"
    assert body["invalid"][0]["violations"][0]["violation"] == "missing"
    assert not AuditEvent.objects.exclude(retraced_id="").exists()


def test_bulk_over_the_limit_is_400(writer, settings):
    settings.AUDIT_BULK_MAX_EVENTS = 3
    url = BULK_URL.format("default")
    response = post(writer, {"events": [EVENT] * 4}, url)
    assert response.status_code == 400
    assert "A maximum of 3 events" in response.json()["error"]
    assert post(writer, {"events": [EVENT] * 3}, url).status_code == 201


def test_bulk_of_nothing_stores_nothing(writer):
    response = post(writer, {"events": []}, BULK_URL.format("default"))
    assert (response.status_code, response.json()) == (201, [])


@pytest.mark.parametrize("body", [[EVENT], {"events": EVENT}, {"events": [EVENT], "more": 1}])
def test_bulk_body_shape_errors_are_400(writer, body):
    response = post(writer, body, BULK_URL.format("default"))
    assert response.status_code == 400
    assert response.json()["type"] == "Error"


# --- Round trip: what the client reports, its query finds ----------------------------------

SEARCH = """query Search($query: String!, $last: Int) {
  search(query: $query, last: $last) {
    totalCount
    edges { node { id action crud description external_id source_ip
      actor { id name } group { id name } target { id type }
      fields { key value } metadata { key value } } }
  }
}"""


def test_published_events_are_found_by_the_publisher_graphql_search(make_token):
    _, secret = make_token("audit:write", "audit:read")
    client = client_for(secret)
    events = [EVENT, {**EVENT, "action": "document.delete", "crud": "d", "metadata": None}]
    events = [{k: v for k, v in e.items() if v is not None} for e in events]
    receipts = post(client, {"events": events}, BULK_URL.format("default")).json()
    response = client.post(
        "/publisher/v1/project/default/graphql",
        {"query": SEARCH, "variables": {"query": "action:document.*", "last": 10}},
        format="json",
    )
    assert response.status_code == 200, response.content
    search = response.json()["data"]["search"]
    assert search["totalCount"] == 2
    nodes = {edge["node"]["id"]: edge["node"] for edge in search["edges"]}
    assert set(nodes) == {receipt["id"] for receipt in receipts}
    shared = nodes[receipts[0]["id"]]
    assert (shared["action"], shared["crud"], shared["external_id"]) == (
        "document.share",
        "u",
        "ext-9",
    )
    assert shared["actor"] == {"id": "user-1", "name": "Ada"}
    assert shared["group"] == {"id": "acme-corp", "name": "Acme Corp"}
    assert {f["key"]: f["value"] for f in shared["fields"]} == EVENT["fields"]
    assert shared["metadata"] == [{"key": "trace", "value": "abc"}]
    assert nodes[receipts[1]["id"]]["crud"] == "d"
