"""The Updates page: current version, available updates with Install, the live job, history."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from audits.models import AuditEvent
from licensing.models import License, Release, UpdateJob
from licensing.services.license import license_install
from licensing.services.updates import update_apply_request
from licensing.update_jobs import update_job_execute

pytestmark = pytest.mark.django_db

UPDATES = "/admin/licensing/release/updates/"


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def make_staff(django_user_model):
    """make_staff("view_release", ...) -> a client signed in as staff with those permissions."""

    counter = iter(range(100))

    def make(*codenames: str, enforce_csrf_checks: bool = False) -> Client:
        user = django_user_model.objects.create_user(
            f"staff-{next(counter)}", password="x", is_staff=True
        )
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="licensing", codename__in=codenames)
        )
        client = Client(enforce_csrf_checks=enforce_csrf_checks)
        client.force_login(user)
        return client

    return make


def _install_buttons(html: str) -> list[str]:
    return re.findall(r'id="install-(\d+)"', html)


def test_page_shows_current_version_available_updates_and_install(
    staff_client, installed_license, releases
):
    html = staff_client.get(UPDATES).content.decode()
    assert "{#" not in html and "{%" not in html  # no template syntax leaks
    assert '<strong id="current-version">1.10.0</strong>' in html
    assert "Notes for 10" in html
    # The license's channel (Unstable) only, newest first; 14 is on Stable.
    assert _install_buttons(html) == ["13", "12", "11"]
    assert "Install 1.13.0" in html
    assert f'href="/admin/licensing/release/{releases[13].pk}/apply/?from=updates"' in html
    assert "Notes for 12" in html and "1.14.0" not in html
    row = re.search(r'data-sequence="12">(.*?)</tr>', html, re.S).group(1)
    assert "<strong>required</strong>" in row
    assert "optional" in re.search(r'data-sequence="11">(.*?)</tr>', html, re.S).group(1)


def test_release_notes_are_escaped(staff_client, installed_license, releases):
    Release.objects.filter(sequence__in=[10, 13]).update(
        release_notes='<script>alert("x")</script>\n<img src=x onerror=alert(1)>'
    )
    html = staff_client.get(UPDATES).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    # Both the current version's notes and the available release's, line breaks kept.
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<br>&lt;img src=x"
    assert html.count(escaped) == 2


def test_view_only_user_sees_the_page_without_install(make_staff, installed_license, releases):
    client = make_staff("view_release")
    response = client.get(UPDATES)
    assert response.status_code == 200
    html = response.content.decode()
    assert "1.13.0" in html and "Notes for 13" in html
    assert _install_buttons(html) == []
    assert "needs the permission <em>Can apply updates</em>" in html


def test_install_needs_the_apply_permission(make_staff, installed_license, releases):
    client = make_staff("view_release")
    url = f"/admin/licensing/release/{releases[13].pk}/apply/?from=updates"
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert not UpdateJob.objects.exists()


def test_page_needs_the_release_view_permission(make_staff, installed_license, releases):
    assert make_staff("view_updatejob").get(UPDATES).status_code == 403


def test_install_post_is_csrf_checked(make_staff, installed_license, releases):
    client = make_staff("view_release", "apply_update", enforce_csrf_checks=True)
    url = f"/admin/licensing/release/{releases[13].pk}/apply/?from=updates"
    assert client.post(url).status_code == 403
    assert not UpdateJob.objects.exists()
    # The confirmation's own form carries the token, and with it the same POST goes through.
    confirmation = client.get(url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', confirmation).group(1)
    response = client.post(url, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert UpdateJob.objects.get().target_sequence == 13


def test_confirmation_from_the_page_names_the_version_and_its_plan(
    staff_client, installed_license, releases
):
    url = f"/admin/licensing/release/{releases[13].pk}/apply/?from=updates"
    html = staff_client.get(url).content.decode()
    assert "Apply update to 1.13.0?" in html
    assert 'value="Yes, install 1.13.0"' in html
    assert "1.12.0 (sequence 12), required" in html
    assert "Optional releases skipped: 1.11.0 (11)" in html
    assert '<form method="post">' in html and 'name="csrfmiddlewaretoken"' in html
    # Cancel and the breadcrumbs lead back to the Updates page.
    assert f'href="{UPDATES}" class="button cancel-link"' in html


def test_install_from_the_page_queues_audits_and_returns_to_the_page(
    staff_client, superuser, installed_license, releases
):
    url = f"/admin/licensing/release/{releases[13].pk}/apply/?from=updates"
    response = staff_client.post(url)
    assert response.status_code == 302 and response["Location"] == UPDATES
    job = UpdateJob.objects.get()
    assert (job.target_sequence, job.plan, job.requested_by) == (13, [12, 13], superuser)
    event = AuditEvent.objects.get(action="version.apply.request")
    assert event.actor_id == str(superuser.pk)
    html = staff_client.get(UPDATES).content.decode()
    assert f"Update job #{job.pk} to 1.13.0 queued." in html
    # The running job is on the page, live, and no second install can start meanwhile.
    assert 'data-update-job data-state="queued"' in html
    assert f'data-status-url="/admin/licensing/updatejob/{job.pk}/status.json"' in html
    assert "licensing/update_job.js" in html and "licensing/updates.js" in html
    assert "<script>" not in html.replace("<script src=", "")  # no inline scripts (CSP)
    assert _install_buttons(html) == []
    assert f"Update job #{job.pk} is queued" in html
    # A running job comes right after the current version, above the available updates.
    assert f"Update job #{job.pk}: to 1.13.0" in html
    assert html.index('id="updates-job"') < html.index('id="updates-available"')


def test_refused_install_returns_to_the_page_with_the_reason(
    staff_client, installed_license, releases
):
    update_apply_request(sequence=12)
    url = f"/admin/licensing/release/{releases[13].pk}/apply/?from=updates"
    response = staff_client.post(url, follow=True)
    assert response.redirect_chain == [(UPDATES, 302)]
    assert "Not applied: Update job" in response.content.decode()
    assert UpdateJob.objects.count() == 1


def test_the_action_path_still_leads_to_the_job_page(staff_client, installed_license, releases):
    response = staff_client.post(f"/admin/licensing/release/{releases[13].pk}/apply/")
    job = UpdateJob.objects.get()
    assert response["Location"] == f"/admin/licensing/updatejob/{job.pk}/change/"


def test_history_lists_jobs_with_who_when_and_result(
    staff_client, superuser, installed_license, releases
):
    done = update_apply_request(sequence=12, user=superuser)
    update_job_execute(job_id=done.pk)
    Release.objects.filter(sequence=13).update(hook_command="false")
    failed = update_apply_request(sequence=13)
    update_job_execute(job_id=failed.pk)
    html = staff_client.get(UPDATES).content.decode()
    rows = re.findall(r'<tr class="updates-history-row" data-job-id="(\d+)">(.*?)</tr>', html, re.S)
    assert [int(pk) for pk, _ in rows] == [failed.pk, done.pk]
    newest, oldest = rows[0][1], rows[1][1]
    assert "1.13.0" in newest and "failed" in newest and "Hook exited with status 1" in newest
    assert "system" in newest
    assert "1.12.0" in oldest and "succeeded" in oldest and "sequence 10" in oldest
    assert "root" in oldest
    assert f'href="/admin/licensing/updatejob/{done.pk}/change/"' in html
    assert 'href="/admin/licensing/updatejob/"' in html
    # The current version moved to 1.12.0; 1.13.0 is still available to retry.
    assert '<strong id="current-version">1.12.0</strong>' in html
    assert _install_buttons(html) == ["13"]
    # The finished job shows, still, with its bar full or its error, below the updates.
    assert 'data-state="failed"' in html and "Hook exited with status 1" in html
    assert f"Update job #{failed.pk}: to 1.13.0" in html
    assert (
        html.index('id="updates-available"')
        < html.index('id="updates-job"')
        < html.index('id="updates-history"')
    )


def test_history_is_bounded_to_the_last_ten_jobs(staff_client, installed_license, releases):
    for number in range(12):
        UpdateJob.objects.create(
            target_release=releases[11],
            target_sequence=11,
            plan=[11],
            state="failed",
            requested_by_name=f"user-{number}",
        )
    html = staff_client.get(UPDATES).content.decode()
    assert html.count('class="updates-history-row"') == 10
    assert "user-11" in html and "user-1<" not in html


def test_user_without_job_view_sees_a_static_panel(make_staff, installed_license, releases):
    # The status endpoint needs the job view permission: the panel must not poll a 403.
    update_apply_request(sequence=12)
    html = make_staff("view_release").get(UPDATES).content.decode()
    assert 'data-update-job data-state="queued"' in html
    assert "data-status-url" not in html
    assert "/admin/licensing/updatejob/" not in html


def test_expired_license_blocks_install_with_the_reason(
    staff_client, sign, license_payload, releases
):
    license_install(data=sign(license_payload))
    License.objects.update(expiration_time="2020-01-01T00:00:00Z")
    html = staff_client.get(UPDATES).content.decode()
    assert _install_buttons(html) == []
    assert "forbids updates" in html


def test_no_pending_update_says_so(staff_client, installed_license, releases):
    update_job_execute(job_id=update_apply_request(sequence=13).pk)
    html = staff_client.get(UPDATES).content.decode()
    assert "1.13.0 is the newest release on channel Unstable." in html
    assert _install_buttons(html) == []


def test_ways_in_releases_changelist_and_app_index(staff_client, installed_license, releases):
    changelist = staff_client.get("/admin/licensing/release/").content.decode()
    assert f'<a href="{UPDATES}" class="updates-link">Updates</a>' in changelist
    assert "apply_update" in changelist  # the action keeps working
    app_index = staff_client.get("/admin/licensing/").content.decode()
    assert app_list_entry(app_index) == UPDATES


def test_app_index_shows_the_link_only_to_release_viewers(make_staff):
    html = make_staff("view_updatejob").get("/admin/licensing/").content.decode()
    assert app_list_entry(html) is None
    html = make_staff("view_release").get("/admin/licensing/").content.decode()
    assert app_list_entry(html) == UPDATES


def app_list_entry(html: str) -> str | None:
    """The link of the app list's (and navigation sidebar's) Updates row, if shown."""
    found = re.search(r'<th scope="row" id="licensing-updatespage">\s*<a href="([^"]+)"', html)
    return found.group(1) if found else None


def test_page_queries_are_bounded(
    staff_client, installed_license, releases, django_assert_max_num_queries
):
    for number in range(30):
        Release.objects.create(sequence=100 + number, version=f"9.{number}", channel="Unstable")
    for _ in range(15):
        UpdateJob.objects.create(
            target_release=releases[11], target_sequence=11, plan=[11], state="failed"
        )
    with django_assert_max_num_queries(12):
        staff_client.get(UPDATES)
