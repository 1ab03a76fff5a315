"""
In Chromium: the console's "View as customer" page runs Retraced's logs-viewer widget (the npm
bundle scripts/build_js.sh builds) against the site's /viewer/v1, as a vendor's page would.
"""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from audits.context import AuditActor, AuditTarget
from audits.models import AuditSource, Crud
from audits.services import audit_event_record

pytestmark = pytest.mark.browser

WIDGET = "#retraced-logs-viewer"


def record(group_id: str, group_name: str, action: str, target_name: str, crud=Crud.CREATE):
    audit_event_record(
        action=action,
        source=AuditSource.INTEGRATION,
        crud=crud,
        actor=AuditActor(type="User", id="alice@acme.example", name="Alice"),
        target=AuditTarget(type="document", id=target_name.lower(), name=target_name),
        group_id=group_id,
        group_name=group_name,
        description=f"{action} on {target_name}",
    )


def test_view_as_customer_lists_searches_and_exports_one_groups_log(admin_page, live_site):
    record("acme", "Acme Corp", "document.create", "Quarterly report")
    record("acme", "Acme Corp", "invoice.paid", "Invoice 42", crud=Crud.UPDATE)
    record("acme", "Acme Corp", "document.delete", "Old draft", crud=Crud.DELETE)
    record("globex", "Globex", "document.create", "Globex secret plan")
    page = admin_page
    # The bundle runs under the site's CSP as it is (script-src 'self'), and nothing throws.
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and problems.append(message.text),
    )

    # From the admin: the Groups page, then "View as customer" on acme's row.
    page.goto(f"{live_site.url}/admin/audits/auditevent/groups/")
    page.click("table.retraced-groups tr:has-text('acme') >> text=View as customer")
    page.wait_for_selector(f"{WIDGET} [data-testid=headerTitle]")

    # The widget lists the group's events (and never another group's). It opens two sessions
    # and searches twice on mount, so the list may redraw: the checks wait for their state.
    widget = page.locator(WIDGET)
    expect(widget).to_contain_text("Showing events 1 - 3 of 3", timeout=20_000)
    for title in ("Quarterly report", "Invoice 42", "Old draft"):
        expect(widget).to_contain_text(title)
    expect(widget).not_to_contain_text("Globex secret plan")

    # A search narrows them.
    page.fill(f"{WIDGET} [data-testid=search-events]", "action:invoice.paid")
    page.click(f"{WIDGET} [data-testid=search-button]")
    expect(widget).to_contain_text("Showing events 1 - 1 of 1")
    expect(widget).to_contain_text("Invoice 42")
    expect(widget).not_to_contain_text("Quarterly report")
    expect(widget).not_to_contain_text("Old draft")

    # Searching for the other group's event finds nothing.
    page.fill(f"{WIDGET} [data-testid=search-events]", "Globex")
    page.click(f"{WIDGET} [data-testid=search-button]")
    expect(widget).not_to_contain_text("Invoice 42")
    expect(widget).not_to_contain_text("Globex secret plan")
    expect(widget).not_to_contain_text("Showing events")

    # Back to everything, then a CSV export of the current search downloads.
    page.fill(f"{WIDGET} [data-testid=search-events]", "")
    page.click(f"{WIDGET} [data-testid=search-button]")
    expect(widget).to_contain_text("Showing events 1 - 3 of 3")
    page.click(f"{WIDGET} [data-testid=export-events]")
    page.click(".retracedModal >> button:has-text('Export')")
    page.fill(".retracedModal input[placeholder='Release 1.0.0']", "acme all")
    with page.expect_download() as download_info:
        page.click(".retracedModal >> text=Name & Save")
    download = download_info.value
    # The name comes from the export's Content-Disposition (the widget's fallback is
    # "export.csv", which it also uses for an error body).
    assert download.suggested_filename.endswith(".csv")
    assert "acme" in download.suggested_filename
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    exported = {row.get("action") for row in rows}
    assert {"document.create", "invoice.paid", "document.delete"} <= exported
    assert not any("Globex" in ",".join(row.values()) for row in rows)

    assert problems == []

    # Viewing was recorded in the trail, as the console's staff member.
    page.goto(f"{live_site.url}/admin/audits/auditevent/?group_id=acme")
    assert "audit.log.view" in page.inner_text("#result_list")


# The ended session's 401 is what the widget is meant to recover from; Chromium logs it.
@pytest.mark.browser_errors_expected
def test_an_ended_viewer_session_is_renewed_through_the_pages_token_endpoint(
    admin_page, live_site, settings
):
    settings.RETRACED_VIEWER_SESSION_SECONDS = 2
    record("acme", "Acme Corp", "document.create", "Quarterly report")
    record("acme", "Acme Corp", "invoice.paid", "Invoice 42", crud=Crud.UPDATE)
    page = admin_page
    page.goto(f"{live_site.url}/admin/audits/auditevent/groups/log/?group=acme")
    widget = page.locator(WIDGET)
    expect(widget).to_contain_text("Showing events 1 - 2 of 2", timeout=20_000)

    # Past the session's end, a search gets a 401; the widget calls refreshToken, which
    # fetches a new viewer token from the page's endpoint, opens a new session and searches.
    page.wait_for_timeout(3_000)
    with page.expect_response(
        lambda response: "/groups/log/token/" in response.url and response.status == 200
    ):
        page.fill(f"{WIDGET} [data-testid=search-events]", "action:invoice.paid")
        page.click(f"{WIDGET} [data-testid=search-button]")
    expect(widget).to_contain_text("Showing events 1 - 1 of 1")
    expect(widget).to_contain_text("Invoice 42")
    expect(widget).not_to_contain_text("Quarterly report")
    expect(page.locator(".retraced-logs-viewer-status")).to_have_text("")
