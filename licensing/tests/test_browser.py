"""Apply an update from the admin in Chromium and watch the job page fill in live."""

import pytest
from django.core.management import call_command

from licensing.models import Installation, UpdateJob

pytestmark = pytest.mark.browser

# Records every progress value and log length the page shows, from inside the page, so the
# test sees the live updates even though it runs the worker in this (the main) thread.
WATCH = """() => {
  window.__seen = [];
  const bar = document.getElementById('job-progress');
  const log = document.getElementById('job-log');
  const record = () => window.__seen.push([Number(bar.value), log.children.length]);
  new MutationObserver(record).observe(document.getElementById('update-job'),
    {subtree: true, childList: true, attributes: true, characterData: true});
  record();
}"""


def test_apply_update_from_admin_and_watch_progress(
    admin_page, live_server, installed_license, releases, settings
):
    settings.UPDATE_STEP_DELAY_SECONDS = 0.15
    page = admin_page
    page.goto(f"{live_server.url}/admin/licensing/release/")
    page.check(f"input[name=_selected_action][value='{releases[13].pk}']")
    page.select_option("select[name=action]", "apply_update")
    page.click("button[name=index]")
    page.wait_for_selector("#downtime-warning")
    assert "can cause downtime" in page.inner_text("#downtime-warning")
    page.click("#confirm-apply")
    page.wait_for_selector("#job-progress")
    job = UpdateJob.objects.get()
    assert page.inner_text("#job-state") == "queued"
    page.evaluate(WATCH)

    # The real worker command drains the queue while the browser polls the live server.
    call_command("worker", "--once", "--queue-name", "updates")

    # (wait_for_function would eval a string, which the page's CSP rightly forbids.)
    for _ in range(100):
        if page.inner_text("#job-state") == "succeeded":
            break
        page.wait_for_timeout(200)
    assert page.inner_text("#job-state") == "succeeded"
    assert page.get_attribute("#job-progress", "value") == "100"
    assert page.inner_text("#job-progress-text") == "100%"
    seen = page.evaluate("window.__seen")
    progress_values = sorted({value for value, _ in seen})
    log_lengths = [length for _, length in seen]
    assert progress_values[-1] == 100
    assert len([v for v in progress_values if 0 < v < 100]) >= 2, seen  # it moved, live
    assert log_lengths == sorted(log_lengths) and log_lengths[-1] > log_lengths[0] + 5
    assert page.locator("#job-log li").count() == job.log_lines.count()
    assert "Now running 1.13.0 (sequence 13)." in page.inner_text("#job-log")
    assert Installation.objects.get(pk=1).current_release.sequence == 13
