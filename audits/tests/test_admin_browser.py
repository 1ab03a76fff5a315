"""In Chromium: search and filter the audit list, then open an event's detail page."""

import pytest

from audits.context import AuditTarget
from audits.models import Crud
from audits.services import audit_event_record

pytestmark = pytest.mark.browser


def test_search_filter_and_open_event_detail(admin_page, live_server):
    audit_event_record(
        action="update",
        crud=Crud.UPDATE,
        target=AuditTarget(type="Host::Base", id="57", name="web1.example.com"),
        audited_changes={"comment": ["before", "after <b>bold</b>"]},
        request_uuid="req-browser",
    )
    audit_event_record(
        action="license.sync",
        target=AuditTarget(type="License", id="1", name="acme license"),
        description="line one\nline two",
    )
    page = admin_page
    page.goto(f"{live_server.url}/admin/audits/auditevent/")
    assert "web1.example.com" in page.inner_text("#result_list")
    assert "acme license" in page.inner_text("#result_list")

    # Search (free text goes through the search box's language).
    page.fill("#searchbar", "web1")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    results = page.inner_text("#result_list")
    assert "web1.example.com" in results
    assert "acme license" not in results

    # Filter: clear the search, then pick the License target type in the sidebar.
    page.goto(f"{live_server.url}/admin/audits/auditevent/")
    page.click("#changelist-filter details[data-filter-title='target type'] >> text=License")
    page.wait_for_load_state()
    results = page.inner_text("#result_list")
    assert "acme license" in results
    assert "web1.example.com" not in results

    # Open the host event's detail page from the list and follow "Same request".
    page.goto(f"{live_server.url}/admin/audits/auditevent/?target_type__exact=Host%3A%3ABase")
    page.click("#result_list tbody tr:first-child th a")
    page.wait_for_selector("table.audit-changes")
    changes = page.inner_text("table.audit-changes")
    assert "before" in changes
    assert "after <b>bold</b>" in changes  # shown as text, not markup
    assert page.locator("table.audit-changes b").count() == 0
    page.click("text=Same request")
    page.wait_for_load_state()
    assert "request_uuid=req-browser" in page.url
    assert "web1.example.com" in page.inner_text("#result_list")
