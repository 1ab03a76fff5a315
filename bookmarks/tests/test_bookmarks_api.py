"""Foreman's /api/bookmarks: CRUD, visibility, validation through the one parser, scopes,
and the audit trail of every change."""

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError
from rest_framework.test import APIClient

from audits.models import AuditEvent, Crud
from bookmarks.models import Bookmark

pytestmark = pytest.mark.django_db

KEYS = ["name", "controller", "query", "public", "id", "owner_id", "owner_type"]


@pytest.fixture
def writer(token_client):
    return token_client("audit:read", "bookmark:write")


def user_client(django_user_model, username: str, *scopes: str) -> tuple:
    """A signed-in user holding `scopes` through the API scope permissions."""
    user = django_user_model.objects.create_user(username, password="pw-" + username)
    codenames = ["scope_" + scope.replace(":", "_") for scope in scopes]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = APIClient()
    client.force_authenticate(user)
    return user, client


@pytest.fixture
def alice(django_user_model):
    return user_client(django_user_model, "alice", "audit:read", "bookmark:write")


@pytest.fixture
def bob(django_user_model):
    return user_client(django_user_model, "bob", "audit:read", "bookmark:write")


def create(client, **attributes):
    return client.post("/api/bookmarks", {"bookmark": attributes}, format="json")


# --- CRUD -----------------------------------------------------------------------------------


def test_create_list_show_update_delete_round_trip(writer):
    created = create(writer, name="Failed logins", controller="audits", query="action = login")
    assert created.status_code == 201, created.json()
    record = created.json()
    assert list(record) == KEYS
    assert record["public"] is False
    assert record["owner_type"] == "ApiToken"
    pk = record["id"]

    listed = writer.get("/api/bookmarks").json()
    assert list(listed) == ["total", "subtotal", "page", "per_page", "search", "sort", "results"]
    assert listed["total"] == listed["subtotal"] == 1
    assert listed["results"] == [record]

    for key in (pk, f"{pk}-failed-logins", "Failed logins"):
        shown = writer.get(f"/api/bookmarks/{key}")
        assert shown.status_code == 200, key
        assert shown.json() == record

    updated = writer.put(
        f"/api/bookmarks/{pk}",
        {"bookmark": {"query": "action = login and time > yesterday", "public": True}},
        format="json",
    )
    assert updated.status_code == 200, updated.json()
    assert updated.json()["query"] == "action = login and time > yesterday"
    assert updated.json()["public"] is True
    assert updated.json()["name"] == "Failed logins"  # untouched attributes stay

    deleted = writer.delete(f"/api/bookmarks/{pk}")
    assert deleted.status_code == 200
    assert deleted.json()["id"] == pk  # Foreman answers with the record as it was
    missing = writer.get(f"/api/bookmarks/{pk}")
    assert missing.status_code == 404
    assert missing.json() == {"message": f"Resource bookmark not found by id '{pk}'"}
    assert writer.get("/api/bookmarks/" + "9" * 30).status_code == 404  # beyond bigint
    assert not Bookmark.objects.exists()


def test_unwrapped_attributes_are_accepted_like_rails_wrap_parameters(writer):
    response = writer.post(
        "/api/bookmarks",
        {"name": "hosts in Berlin", "controller": "hosts", "query": "location = Berlin"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Bookmark.objects.get().query == "location = Berlin"


def test_user_owned_bookmark_renders_the_user(alice):
    user, client = alice
    record = create(client, name="mine", controller="audits", query="user = alice").json()
    assert (record["owner_id"], record["owner_type"]) == (user.pk, "User")


def test_list_searches_orders_and_pages(writer):
    for name, controller in [("b", "audits"), ("a", "audits"), ("c", "hosts")]:
        assert create(writer, name=name, controller=controller, query="id = 1").status_code == 201
    by_controller = writer.get("/api/bookmarks", {"search": "controller = audits"}).json()
    assert [r["name"] for r in by_controller["results"]] == ["a", "b"]  # Foreman: by name
    assert (by_controller["total"], by_controller["subtotal"]) == (3, 2)
    free_text = writer.get("/api/bookmarks", {"search": "hosts"}).json()
    assert [r["name"] for r in free_text["results"]] == ["c"]
    ordered = writer.get("/api/bookmarks", {"order": "name DESC", "per_page": 2}).json()
    assert [r["name"] for r in ordered["results"]] == ["c", "b"]
    assert ordered["sort"] == {"by": "name", "order": "DESC"}
    everything = writer.get("/api/bookmarks", {"per_page": "all"}).json()
    assert len(everything["results"]) == 3


def test_bad_search_or_order_is_foremans_400(writer):
    response = writer.get("/api/bookmarks", {"search": "colour = blue"})
    assert response.status_code == 400
    assert response.json()["error"]["class"] == "ScopedSearch::QueryNotSupported"
    assert "colour" in response.json()["error"]["message"]
    assert writer.get("/api/bookmarks", {"order": "owner ASC"}).status_code == 400


# --- Visibility -------------------------------------------------------------------------------


def test_a_user_sees_public_bookmarks_and_their_own_only(alice, bob):
    _, alice_client = alice
    _, bob_client = bob
    private = create(alice_client, name="private", controller="audits", query="action = a").json()
    public = create(
        alice_client, name="shared", controller="audits", query="action = b", public=True
    ).json()
    own = create(bob_client, name="bob's", controller="audits", query="action = c").json()

    listed = bob_client.get("/api/bookmarks", {"per_page": "all"}).json()
    assert sorted(r["id"] for r in listed["results"]) == sorted([public["id"], own["id"]])
    assert listed["total"] == 2
    assert bob_client.get(f"/api/bookmarks/{private['id']}").status_code == 404
    assert bob_client.get("/api/bookmarks/private").status_code == 404  # not by name either
    assert bob_client.get(f"/api/bookmarks/{public['id']}").status_code == 200

    # Another user's bookmark: invisible ones do not exist, visible ones are read-only.
    assert bob_client.delete(f"/api/bookmarks/{private['id']}").status_code == 404
    forbidden = bob_client.put(
        f"/api/bookmarks/{public['id']}", {"bookmark": {"query": "action = x"}}, format="json"
    )
    assert forbidden.status_code == 403
    assert "owner" in forbidden.json()["error"]["message"]
    assert bob_client.delete(f"/api/bookmarks/{public['id']}").status_code == 403
    assert Bookmark.objects.get(pk=public["id"]).query == "action = b"


def test_superuser_sees_public_and_own_but_may_change_a_public_one(alice, admin_client_api):
    _, alice_client = alice
    private = create(alice_client, name="p", controller="audits", query="action = a").json()
    public = create(alice_client, name="s", controller="audits", query="action = b", public=True)
    listed = admin_client_api.get("/api/bookmarks").json()
    assert [r["id"] for r in listed["results"]] == [public.json()["id"]]
    assert admin_client_api.get(f"/api/bookmarks/{private['id']}").status_code == 404
    response = admin_client_api.put(
        f"/api/bookmarks/{public.json()['id']}", {"bookmark": {"name": "s2"}}, format="json"
    )
    assert response.status_code == 200


def test_tokens_own_their_bookmarks(token_client):
    first, second = token_client("audit:read", "bookmark:write"), token_client("audit:read")
    pk = create(first, name="t", controller="audits", query="action = a").json()["id"]
    assert second.get(f"/api/bookmarks/{pk}").status_code == 404
    assert first.get(f"/api/bookmarks/{pk}").status_code == 200


# --- Validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "field", "fragment"),
    [
        (
            {"query": "colour = blue"},
            "query",
            "Query is not a valid audits search: Field 'colour' not recognized",
        ),
        ({"query": "action ="}, "query", "Query is not a valid audits search:"),
        ({"query": 'time > "not a date"'}, "query", "Query is not a valid audits search:"),
        # The controller's own field map decides: hosts have no `action`.
        (
            {"controller": "hosts", "query": "action = update"},
            "query",
            "Query is not a valid hosts search: Field 'action' not recognized",
        ),
        ({"query": "   "}, "query", "Query can't be blank."),
        ({"controller": "dashboard"}, "controller", "'dashboard' is not a controller"),
        ({"name": ""}, "name", "Name can't be blank."),
        ({"name": "x" * 256}, "name", "Name is too long"),
        ({"public": "maybe"}, "public", "Public must be true or false."),
    ],
)
def test_invalid_bookmark_is_422_naming_the_problem(writer, attributes, field, fragment):
    body = {"name": "n", "controller": "audits", "query": "action = update", **attributes}
    response = create(writer, **body)
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["id"] is None
    assert fragment in error["message"]
    assert fragment in error["errors"][field][0]
    assert error["full_messages"][0] == error["message"]
    assert not Bookmark.objects.exists()


def test_missing_attributes_are_named(writer):
    response = create(writer, name="only a name")
    assert response.status_code == 422
    assert set(response.json()["error"]["errors"]) == {"controller", "query"}
    assert "Controller can't be blank." in response.json()["error"]["full_messages"]


def test_invalid_update_is_422_with_the_record_id_and_changes_nothing(writer):
    pk = create(writer, name="n", controller="audits", query="action = a").json()["id"]
    response = writer.put(f"/api/bookmarks/{pk}", {"bookmark": {"query": "nope ~"}}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["id"] == pk
    assert Bookmark.objects.get(pk=pk).query == "action = a"


@pytest.mark.parametrize("body", [[1, 2], {"bookmark": "name"}])
def test_malformed_body_is_400_in_foremans_shape(writer, body):
    response = writer.post("/api/bookmarks", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_name_is_unique_in_every_list_that_would_show_it(alice, bob):
    _, alice_client = alice
    _, bob_client = bob
    assert create(alice_client, name="n", controller="audits", query="id = 1").status_code == 201
    # The same owner and controller: taken.
    taken = create(alice_client, name="n", controller="audits", query="id = 2")
    assert taken.status_code == 422
    assert "Name has already been taken" in taken.json()["error"]["message"]
    # Another controller, or another user's private bookmark: free.
    assert create(alice_client, name="n", controller="hosts", query="id = 2").status_code == 201
    assert create(bob_client, name="n", controller="audits", query="id = 2").status_code == 201
    # A public one would appear in both lists beside a private one of that name.
    assert (
        create(bob_client, name="m", controller="audits", query="id = 3", public=True).status_code
        == 201
    )
    assert create(alice_client, name="m", controller="audits", query="id = 3").status_code == 422
    bob_pk = Bookmark.objects.get(owner__username="bob", name="n").pk
    made_public = bob_client.put(
        f"/api/bookmarks/{bob_pk}", {"bookmark": {"public": True}}, format="json"
    )
    assert made_public.status_code == 422


def test_database_refuses_a_duplicate_name_for_one_owner(alice):
    user, _ = alice
    Bookmark.objects.create(name="n", controller="audits", query="id = 1", owner=user)
    with pytest.raises(IntegrityError):
        Bookmark.objects.create(name="n", controller="audits", query="id = 2", owner=user)


# --- Scopes -----------------------------------------------------------------------------------


def test_reading_needs_audit_read_and_writing_needs_bookmark_write(api_client, token_client):
    body = {"bookmark": {"name": "n", "controller": "audits", "query": "id = 1"}}
    assert api_client.get("/api/bookmarks").status_code == 401
    assert api_client.post("/api/bookmarks", body, format="json").status_code == 401

    reader = token_client("audit:read")
    assert reader.get("/api/bookmarks").status_code == 200
    denied = reader.post("/api/bookmarks", body, format="json")
    assert denied.status_code == 403
    assert "bookmark:write" in denied.json()["error"]["message"]

    ingest = token_client("audit:write")
    assert ingest.post("/api/bookmarks", body, format="json").status_code == 403

    write_only = token_client("bookmark:write")
    created = write_only.post("/api/bookmarks", body, format="json")
    assert created.status_code == 201
    assert write_only.get("/api/bookmarks").status_code == 403
    pk = created.json()["id"]
    assert write_only.delete(f"/api/bookmarks/{pk}").status_code == 200


def test_user_without_the_write_scope_permission_cannot_save(django_user_model):
    _, client = user_client(django_user_model, "carol", "audit:read")
    assert client.get("/api/bookmarks").status_code == 200
    response = create(client, name="n", controller="audits", query="id = 1")
    assert response.status_code == 403


# --- Audit trail ------------------------------------------------------------------------------


def test_create_update_delete_are_audited_as_the_caller(alice):
    user, client = alice
    pk = create(client, name="n", controller="audits", query="action = a").json()["id"]
    client.put(f"/api/bookmarks/{pk}", {"bookmark": {"query": "action = b"}}, format="json")
    client.delete(f"/api/bookmarks/{pk}")
    events = list(
        AuditEvent.objects.filter(target_type="Bookmark", target_id=str(pk)).order_by("version")
    )
    assert [(e.action, e.crud, e.version) for e in events] == [
        ("create", Crud.CREATE, 1),
        ("update", Crud.UPDATE, 2),
        ("destroy", Crud.DELETE, 3),
    ]
    assert events[0].audited_changes["query"] == "action = a"
    assert events[0].audited_changes["owner_id"] == user.pk
    assert events[1].audited_changes == {"query": ["action = a", "action = b"]}
    assert {(e.actor_type, e.actor_name) for e in events} == {("User", "alice")}
    assert all(e.target_name == "n" for e in events)


def test_rejected_save_records_no_audit_event(writer):
    before = AuditEvent.objects.filter(target_type="Bookmark").count()
    assert create(writer, name="n", controller="audits", query="nope = 1").status_code == 422
    assert AuditEvent.objects.filter(target_type="Bookmark").count() == before


def test_bookmarks_are_found_in_the_audit_search(writer):
    create(writer, name="n", controller="audits", query="action = a")
    found = writer.get("/api/audits", {"search": "target_type = Bookmark"}).json()
    assert [r["auditable_name"] for r in found["results"]] == ["n"]


# --- apidoc -----------------------------------------------------------------------------------


def test_apidoc_describes_the_bookmarks_resource(api_client):
    doc = api_client.get("/apidoc/v2.json").json()
    resource = doc["docs"]["resources"]["bookmarks"]
    methods = {m["name"]: m for m in resource["methods"]}
    assert set(methods) == {"index", "show", "create", "update", "destroy"}
    assert methods["create"]["apis"][0]["http_method"] == "POST"
    assert methods["update"]["apis"][0]["api_url"] == "/api/bookmarks/:id"
    bookmark = methods["create"]["params"][0]
    assert bookmark["name"] == "bookmark" and bookmark["required"] is True
    assert {p["name"]: p["required"] for p in bookmark["params"]} == {
        "name": True,
        "controller": True,
        "query": True,
        "public": False,
    }
    assert {"name": "controller", "type": "string"} in methods["index"]["metadata"]["search"]
