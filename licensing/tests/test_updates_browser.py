"""
The Updates page in Chromium, on the demo data: install the pending update by keyboard, run
the real worker, watch the bar reach 100% and the page show the new version and its history.
"""

import pytest
from django.core.management import call_command

from licensing.models import Installation, UpdateJob
from tests.browser import assert_accessible_as_the_django_admin, readme_screenshot, tab_to

pytestmark = pytest.mark.browser

# Records every progress value the page shows, from inside the page, so the test sees the live
# updates even though it runs the worker in this (the main) thread.
WATCH = """() => {
  window.__seen = [];
  const bar = document.getElementById('job-progress');
  const record = () => window.__seen.push(Number(bar.value));
  new MutationObserver(record).observe(document.getElementById('update-job'),
    {subtree: true, childList: true, attributes: true, characterData: true});
  record();
}"""


def _wait_until(page, check, *, tries: int = 150) -> bool:
    # (wait_for_function would eval a string, which the page's CSP rightly forbids.)
    for _ in range(tries):
        if check():
            return True
        page.wait_for_timeout(200)
    return check()


def test_install_the_pending_update_by_keyboard_and_watch_it_finish(
    admin_page, live_server, demo_data, settings
):
    settings.UPDATE_STEP_DELAY_SECONDS = 0.05
    page = admin_page
    page.set_viewport_size({"width": 1280, "height": 800})
    updates_url = f"{live_server.url}/admin/licensing/release/updates/"
    page.goto(updates_url)
    assert page.inner_text("#current-version") == "2.2.0"
    assert "New dashboard panels." in page.inner_text("tr[data-sequence='103']")
    assert_accessible_as_the_django_admin(page, f"{live_server.url}/admin/auth/user/")

    # Install, by keyboard: the button names the version, and so does the confirmation.
    tab_to(page, "#install-103")
    assert page.inner_text("#install-103") == "Install 2.3.0"
    page.keyboard.press("Enter")
    page.wait_for_selector("#downtime-warning")
    assert page.inner_text("h1") == "Apply update to 2.3.0?"
    assert "2.3.0 (sequence 103)" in page.inner_text("#apply-plan")
    assert_accessible_as_the_django_admin(page, f"{live_server.url}/admin/auth/user/")
    tab_to(page, "#confirm-apply")
    page.keyboard.press("Enter")
    page.wait_for_url(updates_url)
    job = UpdateJob.objects.get(target_sequence=103)
    assert f"Update job #{job.pk} to 2.3.0 queued." in page.inner_text(".messagelist")
    assert page.inner_text("#job-state") == "queued"
    assert page.locator(".install-button").count() == 0  # one update at a time
    page.evaluate(WATCH)

    # The real worker drains the queue while the browser polls the live server.
    call_command("worker", "--once", "--queue-name", "updates")

    assert _wait_until(page, lambda: page.inner_text("#job-state") == "succeeded")
    assert page.get_attribute("#job-progress", "value") == "100"
    assert page.inner_text("#job-progress-text") == "100%"
    seen = sorted(set(page.evaluate("window.__seen")))
    assert seen[-1] == 100 and any(0 < value < 100 for value in seen), seen
    log = page.inner_text("#job-log")
    assert "| Warming caches" in log and "Now running 2.3.0 (sequence 103)." in log

    # Without a reload, the page shows the new version and the history its row.
    assert _wait_until(page, lambda: page.get_attribute("body", "data-updates-refreshed"))
    assert page.inner_text("#current-version") == "2.3.0"
    newest = page.locator(".updates-history-row").first
    assert newest.get_attribute("data-job-id") == str(job.pk)
    row = newest.inner_text()
    assert "2.3.0" in row and "succeeded" in row and "root" in row
    assert "2.3.0 is the newest release on channel Stable." in page.inner_text("#updates-available")
    assert Installation.objects.get(pk=1).current_release.sequence == 103
    page.evaluate("document.getElementById('updates-job').scrollIntoView()")
    readme_screenshot(page, "updates")
    assert_accessible_as_the_django_admin(page, f"{live_server.url}/admin/auth/user/")


def test_job_page_shares_the_live_panel(admin_page, live_server, demo_data):
    # The job page keeps working with the shared include and script.
    job = UpdateJob.objects.get()
    page = admin_page
    page.goto(f"{live_server.url}/admin/licensing/updatejob/{job.pk}/change/")
    assert page.inner_text("#job-state") == "succeeded"
    assert page.locator("#job-log li").count() == job.log_lines.count()
    assert_accessible_as_the_django_admin(page, f"{live_server.url}/admin/auth/user/")


def test_the_licensing_index_leads_to_the_page_by_keyboard(admin_page, live_server, demo_data):
    page = admin_page
    page.goto(f"{live_server.url}/admin/licensing/")
    assert_accessible_as_the_django_admin(page, f"{live_server.url}/admin/auth/user/")
    tab_to(page, "#content-main #licensing-updatespage a")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/admin/licensing/release/updates/")
    assert page.inner_text("#current-version") == "2.2.0"
