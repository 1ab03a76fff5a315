"""The console: license upload, options with masked secrets, apply-update action, job pages."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from audits.models import AuditEvent
from licensing.models import ConsoleOption, License, UpdateJob
from licensing.services.updates import update_apply_request
from licensing.update_jobs import update_job_execute

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, superuser):
    client.force_login(superuser)
    return client


def _upload(client, content: str | bytes, name="license.json"):
    data = content.encode() if isinstance(content, str) else content
    return client.post(
        "/admin/licensing/license/upload/",
        {"license_file": SimpleUploadedFile(name, data)},
        follow=True,
    )


def test_upload_installs_a_signed_license(staff_client, sign, license_payload):
    response = _upload(staff_client, sign(license_payload))
    assert response.status_code == 200
    assert License.objects.get().license_id == license_payload["license_id"]
    assert f"License {license_payload['license_id']} installed." in response.content.decode()


@pytest.mark.parametrize(
    "mutate, message",
    [
        ("tampered", "tampered"),
        ("unsigned", "unsigned"),
        ("expired", "expired at"),
        ("malformed", "neither valid JSON nor valid YAML"),
        ("wrong_key", "does not trust"),
    ],
)
def test_upload_rejections_keep_running_license(
    staff_client, installed_license, sign, license_payload, mutate, message
):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    license_payload["assignee"] = "Intruder"
    if mutate == "tampered":
        document = json.loads(sign(license_payload))
        document["license"]["license_type"] = "dev"
        content = json.dumps(document)
    elif mutate == "unsigned":
        content = json.dumps({"license": license_payload})
    elif mutate == "expired":
        license_payload["expiration_time"] = "2010-05-05T00:00:00Z"
        content = sign(license_payload)
    elif mutate == "malformed":
        content = "{{{ not a license"
    else:
        content = sign(license_payload, key=Ed25519PrivateKey.generate())
    response = _upload(staff_client, content)
    html = response.content.decode()
    assert "Rejected:" in html and message in html
    assert "the running license is unchanged" in html
    assert License.objects.get().assignee == "Replicated, Inc"


def test_license_page_hides_hidden_fields(staff_client, installed_license):
    html = staff_client.get(
        f"/admin/licensing/license/{installed_license.pk}/change/"
    ).content.decode()
    assert "max_hosts" in html and "Account Name" in html
    assert "secret_tier" not in html and "platinum" not in html
    assert "1 field(s) hidden from the customer" in html


def test_secret_option_is_masked_in_admin_and_audit(staff_client):
    option = ConsoleOption.objects.get(name="security.key")
    pem = "-----BEGIN PRIVATE KEY-----\nTOPSECRET\n-----END PRIVATE KEY-----"
    url = f"/admin/licensing/consoleoption/{option.pk}/change/"
    response = staff_client.post(url, {"description": option.description, "value": pem})
    assert response.status_code == 302, response.content.decode()[:2000]
    option.refresh_from_db()
    assert option.value == pem
    assert "TOPSECRET" not in staff_client.get(url).content.decode()
    assert "TOPSECRET" not in staff_client.get("/admin/licensing/consoleoption/").content.decode()
    event = (
        AuditEvent.objects.filter(target_type="ConsoleOption", target_name="security.key")
        .order_by("pk")
        .last()
    )
    assert event.audited_changes["value"] == ["[redacted]", "[redacted]"]
    # Blank keeps the secret; the clear box empties it.
    staff_client.post(url, {"description": option.description, "value": ""})
    option.refresh_from_db()
    assert option.value == pem
    staff_client.post(url, {"description": option.description, "value": "", "clear_value": "on"})
    option.refresh_from_db()
    assert option.value == ""


def test_plain_option_changes_are_audited_in_clear(staff_client):
    option = ConsoleOption.objects.get(name="snapshot.retention")
    staff_client.post(
        f"/admin/licensing/consoleoption/{option.pk}/change/",
        {"description": option.description, "value": "7"},
    )
    event = (
        AuditEvent.objects.filter(target_type="ConsoleOption", target_name="snapshot.retention")
        .order_by("pk")
        .last()
    )
    assert event.audited_changes["value"] == ["3", "7"]


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("snapshot.retention", "three", "whole number"),
        ("airgap.install", "yes", "true"),
        ("scheduler", "nomad", "must be one of"),
        ("app.update.check.schedule", "every so often", "schedule"),
        ("snapshot.schedule.time.daily", "25:00", "HH:MM"),
        ("tls.authority.cert", "not a pem", "PEM"),
    ],
)
def test_option_values_are_validated_by_type(staff_client, name, value, message):
    option = ConsoleOption.objects.get(name=name)
    before = option.value
    response = staff_client.post(
        f"/admin/licensing/consoleoption/{option.pk}/change/",
        {"description": option.description, "value": value},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    option.refresh_from_db()
    assert option.value == before


def test_documented_options_cannot_be_deleted(staff_client):
    option = ConsoleOption.objects.get(name="hostname")
    response = staff_client.get(f"/admin/licensing/consoleoption/{option.pk}/delete/")
    assert response.status_code == 403


def _apply_action(client, release):
    return client.post(
        "/admin/licensing/release/",
        {"action": "apply_update", "_selected_action": [release.pk], "index": 0},
    )


def test_apply_action_leads_to_confirmation_warning_of_downtime(
    staff_client, installed_license, releases
):
    response = _apply_action(staff_client, releases[13])
    assert response.status_code == 302
    assert response["Location"] == f"/admin/licensing/release/{releases[13].pk}/apply/"
    html = staff_client.get(response["Location"]).content.decode()
    assert "can cause downtime" in html
    assert "1.12.0 (sequence 12), required" in html
    assert "Optional releases skipped: 1.11.0 (11)" in html


def test_confirming_queues_a_job_and_shows_its_page(staff_client, installed_license, releases):
    response = staff_client.post(f"/admin/licensing/release/{releases[12].pk}/apply/")
    job = UpdateJob.objects.get()
    assert response["Location"] == f"/admin/licensing/updatejob/{job.pk}/change/"
    assert job.requested_by.username == "root"
    html = staff_client.get(response["Location"]).content.decode()
    assert 'id="job-progress"' in html and "licensing/update_job.js" in html
    assert "<script>" not in html.replace("<script src=", "")  # no inline scripts (CSP)
    status = staff_client.get(f"/admin/licensing/updatejob/{job.pk}/status.json").json()
    assert status["state"] == "queued" and status["log"]


def test_apply_action_needs_the_dedicated_permission(
    client, django_user_model, installed_license, releases
):
    user = django_user_model.objects.create_user("staff", password="pw-pw-pw-123", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_release", "change_release"])
    )
    client.force_login(user)
    html = client.get("/admin/licensing/release/").content.decode()
    assert "apply_update" not in html
    assert client.get(f"/admin/licensing/release/{releases[12].pk}/apply/").status_code == 403
    assert client.post(f"/admin/licensing/release/{releases[12].pk}/apply/").status_code == 403
    assert not UpdateJob.objects.exists()
    user.user_permissions.add(Permission.objects.get(codename="apply_update"))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    assert "apply_update" in client.get("/admin/licensing/release/").content.decode()


def test_confirmation_refuses_when_another_job_is_active(staff_client, installed_license, releases):
    update_apply_request(sequence=12)
    response = staff_client.post(f"/admin/licensing/release/{releases[13].pk}/apply/", follow=True)
    assert "is already queued" in response.content.decode()
    assert UpdateJob.objects.count() == 1


def test_job_history_lists_finished_jobs(staff_client, installed_license, releases):
    job = update_apply_request(sequence=12)
    update_job_execute(job_id=job.pk)
    html = staff_client.get("/admin/licensing/updatejob/").content.decode()
    assert "succeeded" in html and 'value="100"' in html


def test_admin_front_page_has_license_panel(staff_client, installed_license, releases):
    html = staff_client.get("/admin/").content.decode()
    assert "License and updates" in html and "Pending updates" in html


# --- Release hooks: a superuser's (or the imported manifest's) to set ---------------------------


def _release_form(release, **changes) -> dict:
    data = {
        "sequence": release.sequence,
        "version": release.version,
        "release_notes": release.release_notes,
        "release_date_0": release.release_date.strftime("%Y-%m-%d"),
        "release_date_1": release.release_date.strftime("%H:%M:%S"),
        "channel": release.channel,
        "hook_command": release.hook_command,
        "hook_timeout_seconds": release.hook_timeout_seconds,
    }
    if release.required:
        data["required"] = "on"
    data.update(changes)
    return data


@pytest.fixture
def release_editor(client, django_user_model):
    user = django_user_model.objects.create_user("editor", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="licensing",
            codename__in=["view_release", "change_release", "add_release"],
        )
    )
    client.force_login(user)
    return client


def test_change_release_holder_cannot_set_a_hook(release_editor, releases):
    from licensing.models import Release

    release = Release.objects.get(sequence=12)
    response = release_editor.post(
        f"/admin/licensing/release/{release.pk}/change/",
        _release_form(release, version="1.12.1", hook_command="sh -c 'cat /etc/passwd'"),
    )
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.version == "1.12.1"  # the rest of the release is theirs to edit
    assert release.hook_command == ""
    page = release_editor.get(f"/admin/licensing/release/{release.pk}/change/").content.decode()
    assert 'name="hook_command"' not in page


def test_add_release_holder_cannot_add_one_with_a_hook(release_editor, releases):
    from licensing.models import Release

    release = Release(sequence=30, version="3.0.0", channel="Unstable")
    response = release_editor.post(
        "/admin/licensing/release/add/", _release_form(release, hook_command="id")
    )
    assert response.status_code == 302
    assert Release.objects.get(sequence=30).hook_command == ""


def test_superuser_can_set_a_hook(staff_client, releases):
    from licensing.models import Release

    release = Release.objects.get(sequence=12)
    response = staff_client.post(
        f"/admin/licensing/release/{release.pk}/change/",
        _release_form(release, hook_command="./scripts/migrate.sh", hook_timeout_seconds=60),
    )
    assert response.status_code == 302
    release.refresh_from_db()
    assert (release.hook_command, release.hook_timeout_seconds) == ("./scripts/migrate.sh", 60)
