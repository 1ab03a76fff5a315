"""A real Foreman client: apypie discovers /apidoc/v2.json and calls the live server with
HTTP Basic auth, as Foreman's Ansible modules do."""

import pytest
from apypie import ForemanApi

from audits.models import Host


@pytest.fixture
def foreman(live_server, superuser, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # apypie caches the apidoc there
    return ForemanApi(
        uri=live_server.url,
        username=superuser.username,
        password="correct horse battery staple",
    )


def test_apypie_lists_searches_pages_and_shows_audits(foreman, transactional_db):
    host = Host.objects.create(name="web1.example.com")
    host.comment = "patched"
    host.save()
    Host.objects.create(name="db1.example.com")

    status = foreman.resource("home").call("status")
    assert status["result"] == "ok" and status["api_version"] == 2

    page = foreman.resource("audits").call(
        "index", {"search": "type = host", "per_page": 2, "page": 1}
    )
    assert page["subtotal"] == 3 and len(page["results"]) == 2
    second = foreman.resource("audits").call(
        "index", {"search": "type = host", "per_page": 2, "page": 2}
    )
    assert len(second["results"]) == 1

    # ForemanApi.list sends per_page = 2**32, as the Ansible modules do.
    everything = foreman.list("audits", search="host = web1.example.com")
    assert [a["action"] for a in everything] == ["update", "create"]

    for_host = foreman.resource("audits").call("index", {"host_id": host.pk})
    assert {a["auditable_id"] for a in for_host["results"]} == {host.pk}

    shown = foreman.resource("audits").call("show", {"id": everything[0]["id"]})
    assert shown["audited_changes"] == {"comment": ["", "patched"]}
    assert shown["auditable_name"] == "web1.example.com"


def test_apypie_surfaces_foreman_errors(foreman, transactional_db):
    from requests import HTTPError

    with pytest.raises(HTTPError) as raised:
        foreman.resource("audits").call("index", {"search": "nope = 1"})
    assert raised.value.response.status_code == 400
    assert raised.value.response.json()["error"]["class"] == "ScopedSearch::QueryNotSupported"


def test_apypie_fetch_all_gets_every_record_of_a_streamed_page_or_a_loud_error(
    foreman, transactional_db, settings, monkeypatch
):
    from apypie.foreman import ForemanApiException

    from audits.foreman import pagination

    monkeypatch.setattr(pagination, "STREAM_CHUNK", 100)  # the live server runs in-process
    Host.objects.bulk_create(Host(name=f"node{n:04}.example.com") for n in range(1500))
    # ForemanApi.list sends per_page = 2**32 and keeps `results` alone.
    names = [host["name"] for host in foreman.list("hosts")]
    assert names == sorted(names) and len(set(names)) == 1500
    # Above the cap the answer is an error apypie raises, never a silently shorter list.
    settings.AUDIT_API_MAX_PER_PAGE = 1000
    with pytest.raises(ForemanApiException) as raised:
        foreman.list("hosts")
    assert "400 Client Error" in str(raised.value)
    assert "AUDIT_API_MAX_PER_PAGE" in str(raised.value)
