"""
Audit exports and chain verifications as background jobs (audits.jobs, audits.background):
lifecycle, progress, files, permissions, the reaper and the purge, the admin pages and the
`/audit/v1/verify` job routes.
"""

import csv
import io
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth.models import AnonymousUser, Permission
from django.http import HttpRequest, QueryDict
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django_tasks_db.models import DBTaskResult

from audits import jobs
from audits.context import AuditTarget
from audits.exports import export_csv, export_json_lines
from audits.models import AuditEvent, AuditExport, AuditJobState, AuditVerification, Crud
from audits.services import audit_event_record
from audits.tests.test_chain import trigger_disabled
from integration_site.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/audits/auditevent/"
EXPORTS = reverse("admin:audits_auditevent_exports")


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.AUDIT_EXPORT_DIR = tmp_path / "exports"
    return settings.AUDIT_EXPORT_DIR


@pytest.fixture
def admin(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def viewer(django_user_model, name: str) -> Client:
    staff = django_user_model.objects.create_user(name, password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client = Client()
    client.force_login(staff)
    return client


def host_events(count: int = 3) -> None:
    for number in range(count):
        audit_event_record(
            action="update",
            crud=Crud.UPDATE,
            target=AuditTarget(type="Host::Base", id=str(number), name=f"web{number}"),
            audited_changes={"comment": ["old", f"new {number}"]},
        )
    audit_event_record(action="other", description='=HYPERLINK("http://x")')


def start_export(client: Client, fmt: str, params: dict, capture) -> AuditExport:
    with capture(execute=True):
        response = client.post(f"{CHANGELIST}export.{fmt}?{urlencode(params)}")
    assert response.status_code == 302 and response["Location"] == EXPORTS
    return AuditExport.objects.latest("pk")


def changelist_rows(params: dict, rows) -> bytes:
    """What the request-time export wrote for the same filter (before the jobs)."""
    request = HttpRequest()
    request.method = "GET"
    request.GET = QueryDict(mutable=True)
    request.GET.update(params)
    request.user = AnonymousUser()
    queryset = (
        django_admin.site.get_model_admin(AuditEvent).get_changelist_instance(request).queryset
    )
    return "".join(rows(queryset)).encode()


def test_export_runs_as_a_job_and_the_file_equals_the_request_time_export(
    admin, django_capture_on_commit_callbacks
):
    host_events()
    params = {"target_type__exact": "Host::Base"}
    export = start_export(admin, "csv", params, django_capture_on_commit_callbacks)
    assert export.state == AuditJobState.QUEUED and export.format == "csv"
    # Queued on the long-work queue, not the default one the results drain runs on.
    task = DBTaskResult.objects.get(pk=export.task_result_id)
    assert task.queue_name == "audits"
    recorded = AuditEvent.objects.get(action="audit.export")
    assert recorded.metadata["export_id"] == str(export.pk)
    assert "Host" in recorded.metadata["query"] and recorded.actor_name == "root"

    assert jobs.audit_export_execute(export_id=export.pk) == AuditJobState.SUCCEEDED
    export.refresh_from_db()
    assert (export.state, export.rows_written, export.rows_estimate) == ("succeeded", 3, 3)
    assert not list(jobs.export_path(export).parent.glob("*.part"))

    page = admin.get(EXPORTS).content.decode()
    download = reverse("admin:audits_auditevent_export_download", args=[export.pk])
    assert download in page
    response = admin.get(download)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body == changelist_rows(params, export_csv)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert sorted(row["target_name"] for row in rows) == ["web0", "web1", "web2"]
    assert AuditEvent.objects.filter(
        action="audit.export.download", target_id=str(export.pk)
    ).exists()


def test_json_lines_export_equals_the_request_time_export(
    admin, django_capture_on_commit_callbacks
):
    host_events()
    audit_event_record(action="evil", description="line\u2028break\nnewline")
    export = start_export(admin, "jsonl", {}, django_capture_on_commit_callbacks)
    jobs.audit_export_execute(export_id=export.pk)
    expected = changelist_rows({}, export_json_lines)  # the request-time export, now
    export.refresh_from_db()
    assert export.rows_written == AuditEvent.objects.count()  # its own audit.export too
    download = reverse("admin:audits_auditevent_export_download", args=[export.pk])
    assert b"".join(admin.get(download).streaming_content) == expected
    assert expected.count(b"\n") == export.rows_written  # U+2028 did not split a line


def test_export_progress_is_written_while_it_runs(
    admin, monkeypatch, django_capture_on_commit_callbacks
):
    host_events(7)
    export = start_export(admin, "csv", {}, django_capture_on_commit_callbacks)
    monkeypatch.setattr(jobs, "EXPORT_PROGRESS_EVERY", 2)
    seen = []
    progress = jobs._progress

    def watched(job, **fields):
        progress(job, **fields)
        row = AuditExport.objects.get(pk=job.pk)
        seen.append((row.state, row.rows_written, row.rows_estimate))

    monkeypatch.setattr(jobs, "_progress", watched)
    total = AuditEvent.objects.count()
    jobs.audit_export_execute(export_id=export.pk)
    assert seen[0] == ("running", 0, total)
    assert [written for _, written, _ in seen[1:]] == list(range(2, total + 1, 2))


def test_only_the_requester_or_a_superuser_downloads_an_export(
    django_user_model, superuser, django_capture_on_commit_callbacks
):
    host_events()
    owner = viewer(django_user_model, "owner")
    export = start_export(owner, "csv", {}, django_capture_on_commit_callbacks)
    jobs.audit_export_execute(export_id=export.pk)
    download = reverse("admin:audits_auditevent_export_download", args=[export.pk])

    other = viewer(django_user_model, "other")
    assert other.get(download).status_code == 403
    assert download not in other.get(EXPORTS).content.decode()  # not even listed
    assert owner.get(download).status_code == 200
    root = Client()
    root.force_login(superuser)
    assert root.get(download).status_code == 200
    assert not AuditEvent.objects.filter(
        action="audit.export.download", actor_name="other"
    ).exists()


def test_export_needs_view_permission_and_a_post(django_user_model, superuser):
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.post(f"{CHANGELIST}export.csv").status_code == 403
    assert client.get(EXPORTS).status_code == 403
    # Starting work is a POST under the admin's CSRF check: a link elsewhere cannot.
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(superuser)
    assert browser.get(f"{CHANGELIST}export.csv").status_code == 405
    assert browser.post(f"{CHANGELIST}export.csv").status_code == 403
    assert not AuditExport.objects.exists()


def test_a_dead_workers_job_is_failed_by_the_reaper(admin, django_capture_on_commit_callbacks):
    host_events()
    export = start_export(admin, "csv", {}, django_capture_on_commit_callbacks)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer exists, as a SIGKILLed worker's
    AuditExport.objects.filter(pk=export.pk).update(
        state=AuditJobState.RUNNING,
        worker_id="gone-worker",
        worker_host=os.uname().nodename,
        worker_pid=dead.pid,
        started_at=timezone.now(),
    )
    part = jobs._part_path(export)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_text("half a file")
    # Its heartbeat is fresh (the pid check alone tells): failed at once, file removed.
    WorkerHeartbeat.objects.create(
        worker_id="gone-worker",
        hostname=os.uname().nodename,
        pid=dead.pid,
        started_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    assert jobs.audit_jobs_fail_stale() == [f"auditexport:{export.pk}"]
    export.refresh_from_db()
    assert export.state == AuditJobState.FAILED and "died" in export.error
    assert not part.exists()
    assert "died" in admin.get(EXPORTS).content.decode()


def test_a_job_whose_worker_stopped_beating_is_failed_but_a_live_one_is_not():
    job = AuditVerification.objects.create(
        state=AuditJobState.RUNNING, worker_id="quiet", worker_host="elsewhere", worker_pid=1
    )
    WorkerHeartbeat.objects.create(
        worker_id="quiet",
        hostname="elsewhere",
        pid=1,
        started_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    assert jobs.audit_jobs_fail_stale() == []  # its worker beats: alive, however slow
    later = timezone.now() + timedelta(minutes=5)
    assert jobs.audit_jobs_fail_stale(now=later) == [f"auditverification:{job.pk}"]
    job.refresh_from_db()
    assert job.state == AuditJobState.FAILED and "stopped reporting" in job.error


def test_a_reaped_export_never_turns_succeeded(
    admin, monkeypatch, django_capture_on_commit_callbacks
):
    host_events()
    export = start_export(admin, "csv", {}, django_capture_on_commit_callbacks)
    queryset = jobs.export_queryset

    def reaped_meanwhile(job):
        AuditExport.objects.filter(pk=job.pk).update(state=AuditJobState.FAILED, error="reaped")
        return queryset(job)

    monkeypatch.setattr(jobs, "export_queryset", reaped_meanwhile)
    assert jobs.audit_export_execute(export_id=export.pk) == AuditJobState.FAILED
    export.refresh_from_db()
    assert (export.state, export.error) == ("failed", "reaped")
    assert not jobs.export_path(export).exists() and not jobs._part_path(export).exists()


def test_old_export_files_are_purged(admin, django_capture_on_commit_callbacks, settings):
    host_events()
    export = start_export(admin, "csv", {}, django_capture_on_commit_callbacks)
    jobs.audit_export_execute(export_id=export.pk)
    assert jobs.audit_exports_purge() == 0
    later = timezone.now() + timedelta(hours=settings.AUDIT_EXPORT_RETENTION_HOURS, minutes=1)
    assert jobs.audit_exports_purge(now=later) == 1
    export.refresh_from_db()
    assert export.purged_at is not None and not jobs.export_path(export).exists()
    download = reverse("admin:audits_auditevent_export_download", args=[export.pk])
    assert admin.get(download).status_code == 404


def test_purge_and_reaper_are_periodic_jobs():
    from integration_site.registry import registry

    names = {job.name if hasattr(job, "name") else str(job) for job in registry["periodic_jobs"]}
    assert any("audit_exports_purge" in name for name in names)
    assert any("audit_jobs_reap" in name for name in names)


# --- Verification -----------------------------------------------------------------------


def test_admin_verify_runs_as_a_job_with_its_progress_and_verdict(
    admin, monkeypatch, django_capture_on_commit_callbacks
):
    host_events(5)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(reverse("admin:audits_auditevent_verify"))
    job = AuditVerification.objects.get()
    page = reverse("admin:audits_auditevent_verification", args=[job.pk])
    assert response.status_code == 302 and response["Location"] == page
    assert DBTaskResult.objects.get(pk=job.task_result_id).queue_name == "audits"
    html = admin.get(page).content.decode()
    assert "Queued" in html and 'http-equiv="refresh"' in html

    from audits import chain

    monkeypatch.setattr(chain, "VERIFY_PROGRESS_EVERY", 2)
    seen = []
    progress = jobs._progress

    def watched(job, **fields):
        progress(job, **fields)
        seen.append(AuditVerification.objects.get(pk=job.pk).checked)

    monkeypatch.setattr(jobs, "_progress", watched)
    total = AuditEvent.objects.count()
    assert jobs.audit_verification_execute(verification_id=job.pk) == "succeeded"
    assert seen == [0, *range(2, total + 1, 2)]
    html = admin.get(page).content.decode()
    assert "The chain is intact" in html and f"verified {total} events" in html
    assert 'http-equiv="refresh"' not in html


def test_admin_verification_shows_the_broken_link(admin):
    host_events()
    edited = AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").first()
    with trigger_disabled():
        AuditEvent.objects.filter(pk=edited.pk).update(description="rewritten")
    admin.post(reverse("admin:audits_auditevent_verify"))
    job = AuditVerification.objects.get()
    jobs.audit_verification_execute(verification_id=job.pk)
    html = admin.get(reverse("admin:audits_auditevent_verification", args=[job.pk])).content
    assert f"event id {edited.pk}" in html.decode() and "the row was edited" in html.decode()


def test_admin_verification_page_needs_the_verify_scope(django_user_model):
    job = AuditVerification.objects.create()
    client = viewer(django_user_model, "viewer")
    page = reverse("admin:audits_auditevent_verification", args=[job.pk])
    assert client.get(page).status_code == 403


def test_api_post_verify_starts_a_job_and_get_shows_its_result(
    token_client, django_capture_on_commit_callbacks
):
    host_events()
    client = token_client("audit:verify")
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post("/audit/v1/verify")
    assert started.status_code == 202
    body = started.json()
    assert body["state"] == "queued" and body["result"] is None
    assert started["Location"].endswith(f"/audit/v1/verify/{body['id']}")
    # A second request joins the job instead of starting another walk.
    assert client.post("/audit/v1/verify").json()["id"] == body["id"]

    total = AuditEvent.objects.count()
    jobs.audit_verification_execute(verification_id=body["id"])
    done = client.get(f"/audit/v1/verify/{body['id']}")
    assert done.status_code == 200
    assert done.json()["state"] == "succeeded" and done.json()["checked"] == total
    assert done.json()["result"]["ok"] is True and done.json()["result"]["verified"] == total
    assert client.get("/audit/v1/verify/999999").status_code == 404
    assert client.get(f"/audit/v1/verify/{2**64}").status_code == 404


def test_api_verify_routes_need_the_verify_scope(token_client):
    job = AuditVerification.objects.create()
    reader = token_client("audit:read", "audit:write")
    assert reader.post("/audit/v1/verify").status_code == 403
    assert reader.get("/audit/v1/verify").status_code == 403
    assert reader.get(f"/audit/v1/verify/{job.pk}").status_code == 403
    assert AuditVerification.objects.count() == 1


def test_api_get_verify_walks_a_short_chain_in_place_and_a_long_one_as_a_job(
    token_client, settings
):
    host_events()
    client = token_client("audit:verify")
    total = AuditEvent.objects.count()
    short = client.get("/audit/v1/verify")
    assert short.status_code == 200 and short.json()["ok"] is True
    assert short.json()["verified"] == total
    assert not AuditVerification.objects.exists()
    settings.AUDIT_VERIFY_SYNC_MAX_EVENTS = total - 1
    long = client.get("/audit/v1/verify")
    assert long.status_code == 202
    assert long["Location"].endswith(f"/audit/v1/verify/{long.json()['id']}")
