"""The dashboard's license panel: expiry countdown, the license's fields, version history."""

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.choices import JobState
from licensing.dashboard import license_countdown, licensing_panel, version_history
from licensing.models import License, UpdateJob

pytestmark = pytest.mark.django_db


def panel_for(rf, user):
    request = rf.get("/admin/")
    request.user = user
    return licensing_panel(request)


@pytest.mark.parametrize(
    ("days", "text", "css"),
    [
        (90, "89 days left on the license", "severity-ok"),
        (10, "9 days left on the license", "severity-critical"),
        (-3, "License expired 3 days ago", "severity-critical"),
    ],
)
def test_countdown_turns_red_under_thirty_days_and_when_expired(days, text, css):
    now = timezone.now()
    license = License(license_id="x", expiration_time=now + timedelta(days=days, seconds=-60))
    assert license_countdown(license, now=now) == (text, css)


def test_countdown_without_license_or_expiry():
    assert license_countdown(None) == ("No license installed", "severity-critical")
    assert license_countdown(License(license_id="x")) == ("License never expires", "severity-ok")


def test_panel_lists_the_license_fields_without_hidden_ones(
    installed_license, releases, rf, superuser
):
    panel = panel_for(rf, superuser)
    rows = {label: value for label, value, _ in panel.rows}
    assert rows["License"] == installed_license.license_id
    assert rows["Maximum Number of Hosts"] == "1"
    assert rows["Single sign-on"] == "yes"
    assert "Internal tier" not in rows
    assert rows["Version"] == "1.10.0 (sequence 10)"
    assert panel.headline[1] == "severity-ok"
    assert panel.link == "/admin/licensing/release/updates/"
    assert panel.link_text == "Updates (3 pending)"


def test_version_history_says_what_when_by_whom_and_the_result(releases, superuser):
    now = timezone.now()
    UpdateJob.objects.create(
        target_release=releases[11],
        target_sequence=11,
        state=JobState.SUCCEEDED,
        requested_by=superuser,
        finished_at=now - timedelta(days=2),
        created_at=now - timedelta(days=2),
    )
    UpdateJob.objects.create(
        target_release=releases[12],
        target_sequence=12,
        state=JobState.FAILED,
        requested_by_name="ops",
        finished_at=now - timedelta(days=1),
        created_at=now - timedelta(days=1),
    )
    newest, oldest = version_history()
    assert (newest.title, newest.detail, newest.css) == (
        "Version 1.12.0",
        "failed, by ops",
        "severity-critical",
    )
    assert (oldest.title, oldest.css) == ("Version 1.11.0", "severity-ok")
    assert oldest.detail == f"applied, by {superuser.username}"
    assert oldest.when == f"{now - timedelta(days=2):%Y-%m-%d %H:%M} UTC"


def test_long_license_id_renders_whole_in_its_own_cell(installed_license, client, superuser):
    long_id = "L" * 100  # as long as the column holds
    License.objects.filter(pk=installed_license.pk).update(license_id=long_id)
    client.force_login(superuser)
    page = client.get("/admin/").content.decode()
    assert f'<tr class=""><th scope="row">License</th><td>{long_id}</td></tr>' in page
    assert '<h2 id="dashboard-panel-' in page
