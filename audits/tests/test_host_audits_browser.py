"""
In Chromium, on the demo data: a keyboard user opens a Foreman host's audits from the host
list, an integration reads them from `/api/hosts/:id/audits`, and the audit trail itself.
Saves the README tour's `host-audits` and `audit-trail` screenshots.
"""

import json
import urllib.request

import pytest

from audits.models import Host
from tests.browser import assert_accessible_as_the_django_admin, readme_screenshot, tab_to

pytestmark = pytest.mark.browser

# `live_server` comes before `demo_data` in each test's arguments: started after the
# transactional database on SQLite, the live server's request threads fail closing the
# shared in-memory connection (a PytestUnhandledThreadExceptionWarning per request).


def test_open_a_hosts_audits_from_the_host_list_by_keyboard_and_through_the_api(
    live_server, demo_data, admin_page, make_token
):
    page = admin_page
    page.set_viewport_size({"width": 1280, "height": 800})
    baseline = f"{live_server.url}/admin/auth/user/"
    db = Host.objects.get(name="db-1.example.com")

    page.goto(f"{live_server.url}/admin/audits/host/")
    assert_accessible_as_the_django_admin(page, baseline)  # the list with its Audits links
    tab_to(page, 'a[aria-label="Audits of db-1.example.com"]')
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/admin/audits/auditevent/?*target_id={db.pk}*")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3  # set up, moved to Frankfurt, described
    targets = page.locator("#result_list td.field-target").all_inner_texts()
    assert targets == ["Host::Base db-1.example.com"] * 3
    actions = page.locator("#result_list td.field-action_shown").all_inner_texts()
    assert actions == ["update", "update", "create"]
    readme_screenshot(page, "host-audits")
    assert_accessible_as_the_django_admin(page, baseline)

    # The same audits as an integration reads them: Foreman's API, with a token.
    _, secret = make_token("audit:read")
    request = urllib.request.Request(
        f"{live_server.url}/api/hosts/{db.pk}/audits",
        headers={"Authorization": f"Bearer {secret}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        body = json.load(response)
    assert body["total"] == 3
    assert {(r["auditable_id"], r["auditable_name"]) for r in body["results"]} == {
        (db.pk, "db-1.example.com")
    }
    assert {location["name"] for location in body["results"][0]["locations"]} == {"Frankfurt"}


def test_the_audit_trail_with_the_demo_month(live_server, demo_data, admin_page):
    page = admin_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/audits/auditevent/")
    assert page.locator("#result_list tbody tr").count() == 50  # a full page of thousands
    # The sidebar's source filter, as a keyboard user reaches it: the application's events.
    tab_to(page, "#changelist-filter a[href*='source__exact=integration']")
    page.keyboard.press("Enter")
    page.wait_for_url("**source__exact=integration**")
    sources = page.locator("#result_list td.field-source").all_inner_texts()
    assert sources == ["Integration"] * 50
    users = set(page.locator("#result_list td.field-user").all_inner_texts())
    assert len(users) > 3  # the customers' people, not one sample actor
    readme_screenshot(page, "audit-trail")
    assert_accessible_as_the_django_admin(page, f"{live_server.url}/admin/auth/user/")
