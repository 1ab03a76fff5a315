"""
In Chromium, with the demo data: the dashboard draws every chart with data, no label is
squeezed by its value (not even a 200-character license id), a click on a day of the per-day
chart opens the audit list of that day, and the charts' links work from the keyboard.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.counters import audit_counts_roll_up
from audits.models import AuditSource
from audits.services import audit_event_record
from licensing.models import License
from tests.browser import assert_accessible_as_the_django_admin, readme_screenshot, tab_to

pytestmark = pytest.mark.browser

# The longest values the license's columns hold (license_id is 100 characters, assignee 200),
# without a space to break at.
LONG_LICENSE_ID = "L" * 100
LONG_ASSIGNEE = "A" * 200


@pytest.fixture
def dashboard(live_site, demo_data, admin_page, live_server):  # live_site first (conftest)
    # The last moment of yesterday, so that the day's audit list (newest first, 50 a page)
    # shows them on its first page at any hour: at `now - 1 day` just after midnight they
    # came after all of the demo's events of that day, on a later page.
    yesterday = (timezone.localtime() - timedelta(days=1)).replace(
        hour=23, minute=59, second=59, microsecond=999_000
    )
    for i in range(3):
        audit_event_record(
            action=f"yesterday.{i}", source=AuditSource.INTEGRATION, created_at=yesterday
        )
    audit_counts_roll_up()
    audit_event_record(action="today.tail")  # not rolled up: the live tail
    admin_page.set_viewport_size({"width": 1280, "height": 800})
    admin_page.goto(f"{live_server.url}/admin/")
    admin_page.wait_for_selector("canvas[data-drawn]")
    return admin_page


def test_every_chart_is_drawn_with_data(dashboard, live_server):
    page = dashboard
    charts = page.eval_on_selector_all(
        "canvas[data-chart]",
        """els => els.map(el => ({
            id: el.dataset.chart,
            drawn: el.dataset.drawn,
            width: el.width,
            total: JSON.parse(document.getElementById(el.dataset.chart).textContent)
                .series.reduce((n, s) => n + s.values.reduce((a, b) => a + b, 0), 0),
        }))""",
    )
    assert {chart["id"] for chart in charts} == {
        "chart-data-audit-hourly",
        "chart-data-audit-daily",
        "chart-data-events-now",
        "chart-data-events-24h",
        "chart-data-clients-status",
    }
    for chart in charts:
        assert int(chart["drawn"]) > 0 and chart["width"] > 0, chart
        assert chart["total"] > 0, f"{chart['id']} has no data"
    timeline = page.inner_text(".dashboard-timeline")
    assert "Version" in timeline
    assert page.inner_text(".dashboard-headline")
    readme_screenshot(page, "dashboard")
    assert_accessible_as_the_django_admin(page, f"{live_server.url}/admin/auth/user/")


def test_no_label_is_narrower_than_its_text(dashboard):
    page = dashboard
    License.objects.update(license_id=LONG_LICENSE_ID, assignee=LONG_ASSIGNEE)
    page.reload()
    page.wait_for_selector("canvas[data-drawn]")
    assert LONG_LICENSE_ID in page.inner_text("#dashboard")
    assert LONG_ASSIGNEE in page.inner_text("#dashboard")
    # Every visible label: its text fits its box, on one line (a squeezed "License" printed
    # one letter a line is many lines high).
    labels = page.eval_on_selector_all(
        "#dashboard th, #dashboard h2, #dashboard .dashboard-chart-caption",
        """els => els.filter(el => el.offsetParent !== null).map(el => {
            const text = document.createRange();
            text.selectNodeContents(el);
            const style = getComputedStyle(el);
            const line = parseFloat(style.lineHeight) || 1.4 * parseFloat(style.fontSize);
            return {
                text: el.textContent.trim(),
                fits: el.scrollWidth <= el.clientWidth,
                lines: Math.round(text.getBoundingClientRect().height / line),
            };
        })""",
    )
    assert len(labels) > 20
    squeezed = [label for label in labels if not label["fits"] or label["lines"] > 1]
    assert squeezed == []
    # Nor does a value push its panel wider than the page gives it.
    overflowing = page.eval_on_selector_all(
        "#dashboard .dashboard-panel",
        "els => els.filter(el => el.scrollWidth > el.clientWidth).map(el => el.id || el.className)",
    )
    assert overflowing == []
    label = page.locator("#dashboard th", has_text="License").first
    assert label.bounding_box()["width"] > 40  # "License" on one line, not one letter a line


def test_clicking_a_day_opens_the_audit_list_of_that_day(dashboard, live_server):
    page = dashboard
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    # Where Chart.js drew yesterday's Integration bar (second to last day, first series).
    x, y = page.eval_on_selector(
        "canvas[data-chart='chart-data-audit-daily']",
        "el => { const bar = el.chart.getDatasetMeta(0).data[28]; return [bar.x, bar.y + 2]; }",
    )
    box = page.locator("canvas[data-chart='chart-data-audit-daily']").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/admin/audits/auditevent/?*")
    assert f"created_at__range_from={yesterday}" in page.url
    assert f"created_at__range_to={yesterday}" in page.url
    assert "source__exact=integration" in page.url
    assert page.input_value("input[name=created_at__range_from]") == yesterday
    rows = page.inner_text("#result_list")
    assert "yesterday.0" in rows and "today.tail" not in rows


def test_chart_links_work_from_the_keyboard(dashboard, live_server):
    page = dashboard
    # The link the per-day chart summarises.
    tab_to(page, "#chart-audit-daily .dashboard-chart-link")
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/audits/auditevent/?*")
    first_day = (timezone.now() - timedelta(days=29)).date().isoformat()
    assert page.input_value("input[name=created_at__range_from]") == first_day
    assert "today.tail" in page.inner_text("#result_list")  # newest first

    # One day, from the chart's table: open it, then follow the day's link.
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("canvas[data-drawn]")
    tab_to(page, "#chart-audit-daily summary")
    page.keyboard.press("Enter")
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    day_link = f"#chart-audit-daily tbody a[href*='range_from={yesterday}']"
    tab_to(page, day_link)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**range_to={yesterday}*")
    assert "yesterday.0" in page.inner_text("#result_list")

    # A severity of the monitoring chart opens the filtered event list.
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("canvas[data-drawn]")
    tab_to(page, "#chart-events-now .dashboard-chart-link")
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/monitoring/event/")
