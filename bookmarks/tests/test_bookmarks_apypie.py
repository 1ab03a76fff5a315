"""A real Foreman client: apypie finds the bookmarks resource in /apidoc/v2.json and creates,
lists, updates and deletes a bookmark on the live server, as hammer and the Ansible modules do."""

import pytest
from apypie import ForemanApi
from requests import HTTPError

from bookmarks.models import Bookmark


@pytest.fixture
def foreman(live_server, superuser, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # apypie caches the apidoc there
    return ForemanApi(
        uri=live_server.url, username=superuser.username, password="correct horse battery staple"
    )


def test_apypie_creates_lists_updates_and_deletes_a_bookmark(foreman, transactional_db):
    bookmarks = foreman.resource("bookmarks")
    created = bookmarks.call(
        "create",
        {"bookmark": {"name": "failed", "controller": "audits", "query": "is_failure = true"}},
    )
    assert created["owner_type"] == "User" and created["public"] is False

    found = foreman.list("bookmarks", search="controller = audits")
    assert [b["name"] for b in found] == ["failed"]

    updated = bookmarks.call("update", {"id": created["id"], "bookmark": {"public": True}})
    assert updated["public"] is True

    with pytest.raises(HTTPError) as raised:
        bookmarks.call(
            "create", {"bookmark": {"name": "bad", "controller": "audits", "query": "nope = 1"}}
        )
    assert raised.value.response.status_code == 422
    assert "nope" in raised.value.response.json()["error"]["full_messages"][0]

    bookmarks.call("destroy", {"id": created["id"]})
    assert not Bookmark.objects.exists()
