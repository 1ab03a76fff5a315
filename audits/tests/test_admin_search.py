"""The audit changelist's search box speaks the scoped-search language."""

import pytest
from django.urls import reverse

from audits.context import AuditTarget
from audits.services import audit_event_record

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/audits/auditevent/"


@pytest.fixture
def signed_in(client, superuser):
    client.force_login(superuser)
    audit_event_record(action="deploy", description="shipped release 42")
    audit_event_record(
        action="update", target=AuditTarget(type="Host::Base", id="9", name="web9.example.com")
    )
    return client


def test_language_query_filters_the_changelist(signed_in):
    response = signed_in.get(CHANGELIST, {"q": "type = host and action = update"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert b"web9.example.com" in response.content


def test_plain_words_are_free_text(signed_in):
    response = signed_in.get(CHANGELIST, {"q": "release"})
    assert response.context["cl"].result_count == 1
    assert b"deploy" in response.content


def test_bad_query_shows_its_error_inline(signed_in):
    response = signed_in.get(CHANGELIST, {"q": "colour = blue"})
    assert response.status_code == 200
    assert b"Search not understood: Field &#x27;colour&#x27; not recognized" in response.content
    assert b'id="searchbar_error"' in response.content


def test_changelist_loads_the_completion_script(signed_in):
    content = signed_in.get(CHANGELIST).content
    assert b"audits/search_autocomplete.js" in content
    assert reverse("foreman-audit-autocomplete").encode() in content


@pytest.mark.browser
def test_search_box_completes_from_the_api(admin_page, live_server):
    admin_page.goto(f"{live_server.url}{CHANGELIST}")
    admin_page.fill("#searchbar", "type = ho")
    admin_page.wait_for_selector(
        "#searchbar-suggestions option[value='type = host']", state="attached"
    )
    options = admin_page.eval_on_selector_all(
        "#searchbar-suggestions option", "nodes => nodes.map(n => n.value)"
    )
    assert options == ["type = host"]
