"""
In Chromium, with the demo data: the monitoring overview, driven from the keyboard (silence
one event with an expiry and a reason, resolve another), updating in place without a
reload; and a client's page with its history dots. Saves the README tour's screenshots.
"""

import re

import pytest
from playwright.sync_api import expect

from monitoring import overview as overview_module
from monitoring.demo import DEMO_FLAPPING
from monitoring.engine import result_process
from monitoring.models import Event, Silence
from tests.browser import (
    assert_accessible_as_the_django_admin,
    axe_violations,
    readme_screenshot,
    tab_to,
)

pytestmark = pytest.mark.browser

OVERVIEW = "/admin/monitoring/event/overview/"


@pytest.fixture
def overview(admin_page, live_site, demo_data):
    page = admin_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_site.url}{OVERVIEW}")
    # Gone if anything reloads the page: every update below must happen in place.
    page.evaluate("window.sameDocument = true")
    return page


def still_same_document(page) -> bool:
    return page.evaluate("window.sameDocument === true")


def test_silence_and_resolve_from_the_overview_by_keyboard(overview, live_site):
    page = overview
    disk = Event.objects.get(client__name="db-1", check_name="check_disk")
    backup = Event.objects.get(client__name="db-1", check_name="check_backup")
    # Clients coloured by their worst status; the flapping demo check is marked.
    expect(page.locator('.overview-tile[data-client="db-1"]')).to_have_class(
        re.compile(r"\bov-critical\b")
    )
    expect(page.locator('.overview-tile[data-client="web-1"]')).to_have_class(
        re.compile(r"\bov-ok\b")
    )
    client, check = DEMO_FLAPPING
    expect(page.locator(f'tr[data-client="{client}"][data-check="{check}"]')).to_contain_text(
        "Flapping"
    )
    # Critical rows first.
    severities = page.locator("#overview-events tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.severity)"
    )
    assert severities == sorted(severities, key=["critical", "warning", "unknown"].index)
    readme_screenshot(page, "monitoring-overview")

    # Silence db-1's disk: the row's button, then the dialog, by keyboard only.
    tab_to(page, f"#silence-event-{disk.pk}")
    page.keyboard.press("Enter")
    dialog = page.locator("#silence-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("client:db-1:check_disk")
    expect(page.locator("#id_reason")).to_be_focused()
    page.keyboard.type("Disk swap tonight")
    tab_to(page, "#id_duration")
    page.keyboard.press("Home")  # the first choice: 15 minutes
    tab_to(page, "#silence-submit")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#overview-message")).to_have_text("Silenced 1 event(s).")
    expect(page.locator(f"#event-{disk.pk}")).to_contain_text("Silenced")
    expect(
        page.locator('#overview-silences tr[data-silence="client:db-1:check_disk"]')
    ).to_contain_text("Disk swap tonight")
    silence = Silence.objects.get(silence_id="client:db-1:check_disk")
    assert (silence.reason, silence.expire, silence.creator) == ("Disk swap tonight", 900, "root")

    # Resolve db-1's backup check from its row.
    tab_to(page, f"#resolve-event-{backup.pk}")
    page.keyboard.press("Enter")
    expect(page.locator("#overview-message")).to_have_text("Resolved 1 event(s).")
    expect(page.locator(f"#event-{backup.pk}")).to_have_count(0)
    assert not Event.objects.filter(pk=backup.pk).exists()
    # The focused button went with its row: focus lands on the events heading, not nowhere.
    expect(page.locator("#overview-events-heading")).to_be_focused()
    assert still_same_document(page)


def test_bulk_resolve_of_selected_rows_by_keyboard(overview):
    page = overview
    ids = list(
        Event.objects.filter(client__name="db-1").order_by("pk").values_list("pk", flat=True)
    )
    for pk in ids:
        tab_to(page, f"#select-event-{pk}")
        page.keyboard.press("Space")
    tab_to(page, "#bulk-resolve")
    page.keyboard.press("Enter")
    expect(page.locator("#overview-message")).to_have_text(f"Resolved {len(ids)} event(s).")
    expect(page.locator('#overview-events tr[data-client="db-1"]')).to_have_count(0)
    expect(page.locator('.overview-tile[data-client="db-1"]')).to_have_class(
        re.compile(r"\bov-ok\b")
    )
    assert not Event.objects.filter(pk__in=ids).exists()
    assert still_same_document(page)


def test_bulk_silence_of_selected_rows_by_keyboard(overview):
    page = overview
    events = list(Event.objects.filter(client__name="db-1").select_related("client"))
    for event in events:
        tab_to(page, f"#select-event-{event.pk}")
        page.keyboard.press("Space")
    tab_to(page, "#bulk-silence")
    page.keyboard.press("Enter")
    dialog = page.locator("#silence-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"{len(events)} selected event(s)")
    page.keyboard.type("Storage migration")
    tab_to(page, "#silence-submit")
    page.keyboard.press("Enter")
    expect(page.locator("#overview-message")).to_have_text(f"Silenced {len(events)} event(s).")
    for event in events:
        expect(page.locator(f"#event-{event.pk}")).to_contain_text("Silenced")
    assert set(
        Silence.objects.filter(reason="Storage migration").values_list("silence_id", flat=True)
    ) == {f"client:db-1:{event.check_name}" for event in events}
    assert still_same_document(page)


def test_the_filter_applies_as_you_type_without_a_reload(overview):
    page = overview
    expect(page.locator("#overview-events tbody tr")).to_have_count(Event.objects.count())
    page.locator("#overview-q").fill("queue")
    expect(page.locator("#overview-events tbody tr")).to_have_count(1)
    expect(page.locator(".overview-tile")).to_have_count(1)
    assert page.url.endswith("?q=queue")
    page.locator("#overview-status-filter").select_option("critical")
    expect(page.locator("#overview-events tbody tr")).to_have_count(0)
    expect(page.locator("#overview-events")).to_contain_text("No open event matches.")
    assert still_same_document(page)


def test_it_refreshes_itself_keeping_selection_and_focus_and_waits_for_the_dialog(
    admin_page, live_site, demo_data, monkeypatch
):
    monkeypatch.setattr(overview_module, "REFRESH_SECONDS", 1)
    page = admin_page
    page.goto(f"{live_site.url}{OVERVIEW}")
    page.evaluate("window.sameDocument = true")
    disk = Event.objects.get(client__name="db-1", check_name="check_disk")
    tab_to(page, f"#select-event-{disk.pk}")
    page.keyboard.press("Space")
    tab_to(page, f"#resolve-event-{disk.pk}")
    # An event arrives behind the page's back; the page shows it on its own.
    result_process(client_name="web-1", check={"name": "check_new", "status": 2, "output": "new"})
    expect(page.locator('tr[data-client="web-1"][data-check="check_new"]')).to_have_count(1)
    expect(page.locator(f"#select-event-{disk.pk}")).to_be_checked()
    expect(page.locator(f"#resolve-event-{disk.pk}")).to_be_focused()
    expect(page.locator('.overview-tile[data-client="web-1"]')).to_have_class(
        re.compile(r"\bov-critical\b")
    )
    # While the silence dialog is open the rows stay as they are. Silence… is just before
    # Resolve: one Shift+Tab (forwards, the whole page would wrap round, and a loaded
    # machine's refreshes made that run past the limit).
    tab_to(page, f"#silence-event-{disk.pk}", backwards=True)
    page.keyboard.press("Enter")
    expect(page.locator("#silence-dialog")).to_be_visible()
    result_process(client_name="web-2", check={"name": "check_later", "status": 1, "output": "x"})
    refreshes = page.locator("#monitoring-overview").get_attribute("data-refreshes")
    page.wait_for_timeout(2500)
    assert page.locator("#monitoring-overview").get_attribute("data-refreshes") == refreshes
    expect(page.locator('tr[data-check="check_later"]')).to_have_count(0)
    page.keyboard.press("Escape")
    expect(page.locator("#silence-dialog")).to_be_hidden()
    expect(page.locator('tr[data-check="check_later"]')).to_have_count(1)
    assert not Silence.objects.filter(silence_id="client:db-1:check_disk").exists()
    assert still_same_document(page)


def test_overview_and_client_page_are_accessible_and_the_client_shows_history_dots(
    overview, live_site
):
    page = overview
    baseline = f"{live_site.url}/admin/auth/user/"
    # The silence dialog, open, is part of the page a keyboard user meets.
    disk = Event.objects.get(client__name="db-1", check_name="check_disk")
    tab_to(page, f"#silence-event-{disk.pk}")
    page.keyboard.press("Enter")
    expect(page.locator("#silence-dialog")).to_be_visible()
    with_dialog = axe_violations(page)
    page.keyboard.press("Escape")
    expect(page.locator("#silence-dialog")).to_be_hidden()
    expect(page.locator(f"#silence-event-{disk.pk}")).to_be_focused()  # focus comes back
    assert_accessible_as_the_django_admin(page, baseline)
    page.goto(baseline)
    admin_rules = set(axe_violations(page))
    assert not {r: t for r, t in with_dialog.items() if r not in admin_rules}
    page.goto(f"{live_site.url}{OVERVIEW}")
    client, check = DEMO_FLAPPING
    tab_to(page, f'.overview-tile[data-client="{client}"] a')
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/admin/monitoring/client/\d+/change/$"))
    row = page.locator(f'tr[data-check="{check}"]')
    dots = row.locator("li.history-dot")
    expect(dots).to_have_count(21)
    expect(dots.nth(0)).to_have_class(re.compile(r"\bov-warning\b"))
    expect(dots.nth(1)).to_have_class(re.compile(r"\bov-ok\b"))
    expect(dots.nth(0)).to_contain_text("warning (status 1)")  # the dot's words
    expect(page.locator(".field-keepalive_age")).to_be_visible()
    row.scroll_into_view_if_needed()
    readme_screenshot(page, "monitoring-client")
    assert_accessible_as_the_django_admin(page, baseline)
