"""Saved searches in the admin: the Bookmark admin and the audit changelist's control."""

import pytest
from django.contrib.auth.models import Permission

from audits.models import AuditEvent
from audits.services import audit_event_record
from bookmarks.models import Bookmark

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/audits/auditevent/"
SAVE = "/admin/bookmarks/bookmark/save-search/"


@pytest.fixture
def admin(client, superuser):
    client.force_login(superuser)
    return client


def saved_searches(content: bytes) -> str:
    """The "Saved searches" control's HTML in a changelist page ("" when absent)."""
    text = content.decode()
    start = text.find('<details class="saved-searches"')
    return text[start : text.index("</details>", start)] if start >= 0 else ""


def staff(django_user_model, username: str, *codenames: str):
    user = django_user_model.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def test_changelist_shows_saved_searches_that_apply_with_q(admin, superuser):
    Bookmark.objects.create(
        name="Updates",
        controller="audits",
        query='action = update and user = "a b"',
        owner=superuser,
    )
    Bookmark.objects.create(name="Web hosts", controller="hosts", query="name ~ web", public=True)
    content = saved_searches(admin.get(CHANGELIST).content)
    assert 'href="?q=action%20%3D%20update%20and%20user%20%3D%20%22a%20b%22"' in content
    assert ">Updates</a>" in content
    assert "Web hosts" not in content  # another controller's bookmark
    assert "Search first, then save the search here." in content  # no query, nothing to save


def test_save_this_search_creates_a_bookmark_owned_by_the_user(admin, superuser):
    form = admin.get(CHANGELIST, {"q": "action = update"}).content.decode()
    assert 'name="query" value="action = update"' in form
    response = admin.post(
        SAVE,
        {"name": "Updates", "controller": "audits", "query": "action = update", "next": CHANGELIST},
    )
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST + "?q=action+%3D+update"
    bookmark = Bookmark.objects.get()
    assert (bookmark.name, bookmark.query, bookmark.public) == ("Updates", "action = update", False)
    assert bookmark.owner == superuser
    event = AuditEvent.objects.get(target_type="Bookmark", action="create")
    assert (event.actor_type, event.actor_name) == ("User", superuser.username)
    followed = admin.get(response["Location"]).content.decode()
    assert "Saved the search “Updates”." in followed


def test_saving_a_bad_query_shows_the_parsers_message_and_saves_nothing(admin):
    response = admin.post(
        SAVE,
        {"name": "bad", "controller": "audits", "query": "colour = blue", "next": CHANGELIST},
        follow=True,
    )
    content = response.content.decode()
    assert "Search not saved: Query is not a valid audits search: Field &#x27;colour&#x27;" in (
        content
    )
    assert not Bookmark.objects.exists()


def test_save_search_refuses_get_foreign_redirects_and_users_without_add_permission(
    admin, client, django_user_model
):
    assert admin.get(SAVE).status_code == 405
    response = admin.post(
        SAVE,
        {"name": "n", "controller": "audits", "query": "id = 1", "next": "https://evil.example/"},
    )
    assert response["Location"].startswith("/admin/?q=")

    viewer = staff(django_user_model, "viewer", "view_auditevent", "view_bookmark")
    client.force_login(viewer)
    content = saved_searches(client.get(CHANGELIST, {"q": "id = 1"}).content)
    assert "Manage saved searches" in content
    assert "Save this search" not in content
    body = {"name": "m", "controller": "audits", "query": "id = 1", "next": CHANGELIST}
    assert client.post(SAVE, body).status_code == 403


def test_no_control_without_bookmark_permissions(client, django_user_model):
    client.force_login(staff(django_user_model, "auditor", "view_auditevent"))
    assert saved_searches(client.get(CHANGELIST).content) == ""


def test_admin_add_sets_the_owner_and_validates_with_the_model(admin, superuser):
    response = admin.post(
        "/admin/bookmarks/bookmark/add/",
        {"name": "web", "controller": "hosts", "query": "name ~ web", "public": "on"},
    )
    assert response.status_code == 302
    bookmark = Bookmark.objects.get()
    assert (bookmark.owner, bookmark.public) == (superuser, True)
    duplicate = admin.post(
        "/admin/bookmarks/bookmark/add/",
        {"name": "web", "controller": "hosts", "query": "nope = 1"},
    )
    assert duplicate.status_code == 200
    errors = duplicate.context["adminform"].form.errors
    assert "Name has already been taken" in errors["name"][0]
    assert "Query is not a valid hosts search" in errors["query"][0]


def test_staff_see_public_and_own_and_change_only_their_own(client, django_user_model):
    other = django_user_model.objects.create_user("other")
    mine_owner = staff(
        django_user_model, "editor", "view_bookmark", "change_bookmark", "delete_bookmark"
    )
    public = Bookmark.objects.create(
        name="shared", controller="audits", query="id = 1", public=True, owner=other
    )
    Bookmark.objects.create(name="hidden", controller="audits", query="id = 2", owner=other)
    mine = Bookmark.objects.create(
        name="mine", controller="audits", query="id = 3", owner=mine_owner
    )
    client.force_login(mine_owner)
    listing = client.get("/admin/bookmarks/bookmark/").context["cl"].result_list
    assert {b.name for b in listing} == {"shared", "mine"}
    changed = client.post(
        f"/admin/bookmarks/bookmark/{public.pk}/change/",
        {"name": "taken over", "controller": "audits", "query": "id = 1", "public": "on"},
    )
    assert changed.status_code == 403
    assert Bookmark.objects.get(pk=public.pk).name == "shared"
    assert (
        client.post(f"/admin/bookmarks/bookmark/{public.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    renamed = client.post(
        f"/admin/bookmarks/bookmark/{mine.pk}/change/",
        {"name": "renamed", "controller": "audits", "query": "id = 3"},
    )
    assert renamed.status_code == 302
    assert Bookmark.objects.get(pk=mine.pk).name == "renamed"


def test_superuser_manages_every_bookmark(admin, django_user_model):
    other = django_user_model.objects.create_user("other")
    Bookmark.objects.create(name="hidden", controller="audits", query="id = 2", owner=other)
    listing = admin.get("/admin/bookmarks/bookmark/").context["cl"].result_list
    assert [b.name for b in listing] == ["hidden"]


def test_audit_events_of_changes_made_in_the_admin(admin):
    audit_event_record(action="deploy")
    admin.post(
        "/admin/bookmarks/bookmark/add/",
        {"name": "d", "controller": "audits", "query": "action = deploy"},
    )
    pk = Bookmark.objects.get().pk
    admin.post(f"/admin/bookmarks/bookmark/{pk}/delete/", {"post": "yes"})
    actions = list(
        AuditEvent.objects.filter(target_type="Bookmark", target_id=str(pk))
        .order_by("version")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "destroy"]
