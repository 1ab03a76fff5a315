"""The dashboard page: every panel has a caption, charts carry their data and a table."""

import json
import re
from unittest.mock import patch

import pytest
from django.contrib.staticfiles.storage import staticfiles_storage

pytestmark = pytest.mark.django_db


@pytest.fixture
def index(client, superuser):
    client.force_login(superuser)

    def get(*, charts_built: bool) -> str:
        script = "integration_site/dashboard.js" if charts_built else None
        with patch("integration_site.dashboard.finders.find", return_value=script):
            return client.get("/admin/").content.decode()

    return get


def test_every_panel_has_a_caption(index):
    page = index(charts_built=True)
    captions = re.findall(r'<h2 id="dashboard-panel-\d+">([^<]*)</h2>', page)
    assert "Audit trail" in captions and "Monitoring events" in captions
    assert all(caption.strip() for caption in captions)
    assert "<h2><a" not in page  # no links on the blue caption bar (contrast)


def test_charts_data_is_emitted_for_the_script(index):
    page = index(charts_built=True)
    assert re.search(r'<script src="[^"]*integration_site/dashboard\.js" defer>', page)
    data = re.search(
        r'<script id="chart-data-audit-daily" type="application/json">(.*?)</script>', page, re.S
    )
    chart = json.loads(data.group(1))
    assert chart["kind"] == "bar" and chart["stacked"] is True
    assert len(chart["labels"]) == 30
    assert [s["label"] for s in chart["series"]] == ["Integration", "Site", "System"]
    assert chart["series"][1]["links"][-1].startswith("/admin/audits/auditevent/?created_at__")
    assert 'data-chart="chart-data-audit-daily"' in page
    assert '<details class="dashboard-chart-table">' in page  # folded: the chart shows


def test_without_the_bundle_the_tables_show_and_no_script_is_requested(index):
    page = index(charts_built=False)
    assert "dashboard.js" not in page
    assert "<canvas" not in page
    assert '<details class="dashboard-chart-table" open>' in page
    assert "Audit events per day, last 30 days (UTC): table" in page


def test_a_bundle_built_after_collectstatic_leaves_the_tables(index):
    original = staticfiles_storage.url

    def url(name, *args, **kwargs):
        if name == "integration_site/dashboard.js":
            raise ValueError(f"Missing staticfiles manifest entry for '{name}'")
        return original(name, *args, **kwargs)

    with patch.object(staticfiles_storage, "url", url):
        page = index(charts_built=True)
    assert "dashboard.js" not in page
    assert '<details class="dashboard-chart-table" open>' in page
