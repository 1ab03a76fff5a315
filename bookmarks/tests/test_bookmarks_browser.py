"""In Chromium: save the audit changelist's current search, then apply it from a clean list."""

from urllib.parse import parse_qs, urlparse

import pytest

from audits.context import AuditTarget
from audits.services import audit_event_record
from bookmarks.models import Bookmark

pytestmark = pytest.mark.browser


def test_save_the_current_search_and_apply_it_from_the_changelist(
    admin_page, live_server, superuser
):
    audit_event_record(
        action="update", target=AuditTarget(type="Host::Base", id="57", name="web1.example.com")
    )
    audit_event_record(
        action="license.sync", target=AuditTarget(type="License", id="1", name="acme license")
    )
    page = admin_page
    changelist = f"{live_server.url}/admin/audits/auditevent/"
    page.goto(changelist)

    # Search, then save that search.
    page.fill("#searchbar", "type = host and action = update")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    assert "acme license" not in page.inner_text("#result_list")
    page.click("#saved-searches summary")
    page.fill("#save-search-name", "Host updates")
    page.check("#save-search-public")
    page.click("#save-search-submit")
    page.wait_for_load_state()
    assert "Saved the search “Host updates”." in page.inner_text("ul.messagelist")
    bookmark = Bookmark.objects.get()
    assert (bookmark.query, bookmark.public, bookmark.owner) == (
        "type = host and action = update",
        True,
        superuser,
    )

    # From the unfiltered list, apply it.
    page.goto(changelist)
    assert "acme license" in page.inner_text("#result_list")
    page.click("#saved-searches summary")
    page.click("#saved-searches a.saved-search:has-text('Host updates')")
    page.wait_for_load_state()
    assert parse_qs(urlparse(page.url).query)["q"] == ["type = host and action = update"]
    assert page.input_value("#searchbar") == "type = host and action = update"
    results = page.inner_text("#result_list")
    assert "web1.example.com" in results
    assert "acme license" not in results
    page.screenshot(path="/tmp/bm_saved_searches.png", full_page=False)
