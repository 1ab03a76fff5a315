"""Version API, releases import, update jobs (hooks, failures, dead workers, one at a time)."""

import ast
import json
import os
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from audits.models import AuditEvent
from integration_site.schedule import task_results_fail_dead_workers, worker_id_current
from licensing.choices import JobState
from licensing.models import Installation, License, Release, UpdateJob
from licensing.services.releases import ManifestError, releases_import
from licensing.services.updates import UpdateConflict, update_apply_request
from licensing.update_jobs import (
    UpdateJobTakenAway,
    _apply_releases,
    _job_fail,
    update_job_execute,
    update_jobs_fail_stale,
)

pytestmark = pytest.mark.django_db


def _current_sequence() -> int:
    return Installation.objects.get(pk=1).current_release.sequence


def test_current_version_matches_seed_shape(installed_license, releases, token_client):
    response = token_client("version:read").get("/version/v1/current")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "version",
        "release_sequence",
        "release_notes",
        "release_date",
        "install_date",
    }
    assert body["version"] == "1.10.0" and body["release_sequence"] == 10
    assert body["release_date"].endswith("0Z") and len(body["release_date"]) == 28


def test_current_version_without_install_is_404(token_client):
    assert token_client("version:read").get("/version/v1/current").status_code == 404


def test_updates_lists_pending_releases_on_the_license_channel(
    installed_license, releases, token_client
):
    body = token_client("version:read").get("/version/v1/updates").json()
    assert [u["release_sequence"] for u in body] == [11, 12, 13]  # 14 is on Stable
    assert [u["required"] for u in body] == [False, True, False]
    assert body[0]["install_date"] is None and body[0]["release_notes"] == "Notes for 11"


def test_apply_returns_202_with_job_url(
    installed_license, releases, token_client, django_capture_on_commit_callbacks
):
    client = token_client("version:apply", "version:read")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.put("/version/v1/13")
    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "queued" and body["plan"] == [12, 13]  # optional 11 skipped
    assert response["Location"] == body["url"] == f"/version/v1/jobs/{body['id']}"
    job = UpdateJob.objects.get()
    assert job.task_result_id  # enqueued on the task queue
    assert job.requested_by_name.startswith("token:")
    assert client.get(body["url"]).json()["log"][0]["message"].startswith("Queued by token:")
    assert AuditEvent.objects.filter(action="version.apply.request").count() == 1


def test_apply_unknown_sequence_is_404(installed_license, releases, token_client):
    response = token_client("version:apply").put("/version/v1/99")
    assert response.status_code == 404
    assert "No release with sequence 99" in response.json()["message"]


def test_apply_release_on_another_channel_is_404(installed_license, releases, token_client):
    assert token_client("version:apply").put("/version/v1/14").status_code == 404


@pytest.mark.parametrize("sequence", [10, 9])
def test_apply_sequence_not_newer_is_409(installed_license, releases, token_client, sequence):
    Release.objects.create(sequence=9, version="0.9", channel="Unstable")
    response = token_client("version:apply").put(f"/version/v1/{sequence}")
    assert response.status_code == 409
    assert "not newer" in response.json()["message"]


def test_apply_while_another_runs_is_409(installed_license, releases, token_client):
    update_apply_request(sequence=12)
    response = token_client("version:apply").put("/version/v1/13")
    assert response.status_code == 409
    assert "already queued" in response.json()["message"]


def test_apply_with_expired_license_that_forbids_updates_is_403(
    installed_license, releases, token_client
):
    License.objects.update(expiration_time=timezone.now() - timedelta(days=1))
    response = token_client("version:apply").put("/version/v1/12")
    assert response.status_code == 403
    assert "forbids updates" in response.json()["message"]


def test_expired_license_with_ignore_policy_may_update(installed_license, releases, token_client):
    License.objects.update(
        expiration_time=timezone.now() - timedelta(days=1), expiration_policy="ignore"
    )
    assert token_client("version:apply").put("/version/v1/12").status_code == 202


def test_apply_without_license_is_403(releases, token_client):
    assert token_client("version:apply").put("/version/v1/12").status_code == 403


def test_apply_needs_version_apply_scope(installed_license, releases, token_client):
    assert token_client("version:read").put("/version/v1/12").status_code == 403


def test_job_runs_required_releases_in_order_and_moves_current(
    installed_license, releases, token_client
):
    job = update_apply_request(sequence=13)
    assert update_job_execute(job_id=job.pk) == JobState.SUCCEEDED
    job.refresh_from_db()
    assert (job.state, job.progress) == ("succeeded", 100)
    assert job.started_at and job.finished_at and job.finished_at >= job.started_at
    messages = list(job.log_lines.values_list("message", flat=True))
    assert any("Applying 1.12.0" in m for m in messages)
    assert not any("1.11.0" in m for m in messages)
    assert messages[-1] == "Now running 1.13.0 (sequence 13)."
    assert _current_sequence() == 13
    succeeded = AuditEvent.objects.get(action="version.apply.succeed")
    assert succeeded.audited_changes["release_sequence"] == [10, 13]
    body = token_client("version:read").get(f"/version/v1/jobs/{job.pk}").json()
    assert body["state"] == "succeeded" and len(body["log"]) == len(messages)
    after = body["log"][-2]["id"]
    tail = token_client("version:read").get(f"/version/v1/jobs/{job.pk}?after={after}").json()
    assert [line["message"] for line in tail["log"]] == [messages[-1]]
    assert token_client("version:read").get("/version/v1/updates").json() == []


def test_job_runs_only_once(installed_license, releases):
    job = update_apply_request(sequence=12)
    update_job_execute(job_id=job.pk)
    assert update_job_execute(job_id=job.pk) == "not queued"


def test_hook_output_is_logged(installed_license, releases):
    Release.objects.filter(sequence=12).update(
        hook_command=f'{sys.executable} -c \'import os; print("migrated", os.environ["RELEASE_VERSION"])\''
    )
    job = update_apply_request(sequence=12)
    assert update_job_execute(job_id=job.pk) == JobState.SUCCEEDED
    assert job.log_lines.filter(message="  | migrated 1.12.0").exists()


def test_hook_runs_without_the_workers_secrets(installed_license, releases, monkeypatch, settings):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "s3cret-key")
    monkeypatch.setenv("DATABASE_URL", "postgres://site:pw@db/site")
    monkeypatch.setenv("LC_TIME", "C")
    monkeypatch.setenv("VENDOR_REGISTRY", "registry.example")
    settings.UPDATE_HOOK_ENV_PASSTHROUGH = ["VENDOR_REGISTRY"]
    Release.objects.filter(sequence=12).update(
        hook_command=f"{sys.executable} -c 'import os; print(sorted(os.environ))'"
    )
    job = update_apply_request(sequence=12)
    assert update_job_execute(job_id=job.pk) == JobState.SUCCEEDED
    printed = job.log_lines.get(message__startswith="  | [").message
    names = set(ast.literal_eval(printed.removeprefix("  | ")))
    assert "DJANGO_SECRET_KEY" not in names and "DATABASE_URL" not in names
    assert {"PATH", "LC_TIME", "VENDOR_REGISTRY", "RELEASE_SEQUENCE", "UPDATE_JOB_ID"} <= names
    assert not job.log_lines.filter(message__contains="s3cret-key").exists()


def test_failing_hook_fails_job_and_keeps_current_version(installed_license, releases):
    Release.objects.filter(sequence=12).update(
        hook_command=f"{sys.executable} -c 'import sys; sys.exit(3)'"
    )
    job = update_apply_request(sequence=13)
    assert update_job_execute(job_id=job.pk) == JobState.FAILED
    job.refresh_from_db()
    assert job.state == "failed" and "exited with status 3" in job.error
    assert job.finished_at is not None
    assert _current_sequence() == 10
    assert not job.log_lines.filter(message__contains="Applying 1.13.0").exists()
    assert job.log_lines.filter(message="The current version was left unchanged.").exists()
    assert AuditEvent.objects.get(action="version.apply.fail").is_failure
    # A failed job no longer blocks the next apply.
    update_apply_request(sequence=13)


def test_hook_timeout_kills_it_and_fails(installed_license, releases):
    Release.objects.filter(sequence=12).update(hook_command="sleep 30", hook_timeout_seconds=1)
    job = update_apply_request(sequence=12)
    assert update_job_execute(job_id=job.pk) == JobState.FAILED
    job.refresh_from_db()
    assert "timed out after 1s" in job.error
    assert _current_sequence() == 10


def test_missing_hook_program_fails_cleanly(installed_license, releases):
    Release.objects.filter(sequence=12).update(hook_command="/nonexistent/hook")
    job = update_apply_request(sequence=12)
    assert update_job_execute(job_id=job.pk) == JobState.FAILED
    job.refresh_from_db()
    assert "could not start" in job.error


def test_stale_running_job_is_failed_by_the_reaper(installed_license, releases, settings):
    job = update_apply_request(sequence=12)
    UpdateJob.objects.filter(pk=job.pk).update(
        state="running",
        started_at=timezone.now(),
        heartbeat_at=timezone.now() - timedelta(seconds=settings.UPDATE_JOB_STALE_SECONDS + 5),
        worker_host="another-host",
        worker_pid=1,
    )
    assert update_jobs_fail_stale() == [job.pk]
    job.refresh_from_db()
    assert job.state == "failed" and "presumed dead" in job.error
    assert _current_sequence() == 10


def test_a_queued_job_whose_worker_died_before_claiming_it_is_failed(
    installed_license, releases, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = update_apply_request(sequence=12)
    job.refresh_from_db()
    # The updates worker claimed the task, then was killed before it claimed the job: the
    # task row stays RUNNING, the job queued, and neither ever ends by itself.
    DBTaskResult.objects.get(pk=job.task_result_id).claim("killed-worker")
    assert update_jobs_fail_stale() == []

    assert task_results_fail_dead_workers() == [job.task_result_id]
    assert update_jobs_fail_stale() == [job.pk]
    job.refresh_from_db()
    assert job.state == "failed" and "ended without running the job" in job.error
    assert _current_sequence() == 10


def test_fresh_running_job_is_left_alone(installed_license, releases):
    job = update_apply_request(sequence=12)
    UpdateJob.objects.filter(pk=job.pk).update(
        state="running", heartbeat_at=timezone.now(), worker_host="another-host", worker_pid=1
    )
    assert update_jobs_fail_stale() == []


def _wait_for(path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is gone for our purposes.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


# A hook that records its pid and a child's pid, says it started, then waits for `go` (or
# sleeps on, if nobody says go): the tests decide when it would finish.
HOOK_SCRIPT = """
import os, subprocess, sys, time
here = sys.argv[1]
child = subprocess.Popen(["sleep", "60"])
open(os.path.join(here, "pids.tmp"), "w").write(f"{os.getpid()} {child.pid}")
os.rename(os.path.join(here, "pids.tmp"), os.path.join(here, "pids"))
while not os.path.exists(os.path.join(here, "go")):
    time.sleep(0.05)
"""


def _hook_in(tmp_path) -> str:
    (tmp_path / "hook.py").write_text(HOOK_SCRIPT)
    return f"{sys.executable} {tmp_path / 'hook.py'} {tmp_path}"


# The reaper runs on another connection while the job runs, so no test transaction.
@pytest.mark.django_db(transaction=True)
def test_reaped_job_whose_hook_then_finishes_stays_failed(installed_license, releases, tmp_path):
    Release.objects.filter(sequence=12).update(hook_command=_hook_in(tmp_path))
    job = update_apply_request(sequence=12)
    reaped = []

    def reaper():
        try:
            _wait_for(tmp_path / "pids")
            # As a reaper on another host would see it once the heartbeat is old enough.
            reaped.extend(update_jobs_fail_stale(now=timezone.now() + timedelta(hours=1)))
            (tmp_path / "go").touch()
        finally:
            connection.close()

    thread = threading.Thread(target=reaper)
    thread.start()
    state = update_job_execute(job_id=job.pk)
    thread.join()
    assert reaped == [job.pk]
    assert state == JobState.FAILED
    job.refresh_from_db()
    assert job.state == "failed" and "presumed dead" in job.error
    assert _current_sequence() == 10
    assert not AuditEvent.objects.filter(action="version.apply.succeed").exists()
    assert AuditEvent.objects.filter(action="version.apply.fail").count() == 1
    assert not any(_pid_alive(int(p)) for p in (tmp_path / "pids").read_text().split())


@pytest.mark.django_db(transaction=True)
def test_a_reaped_job_starts_no_further_hook(installed_license, releases, tmp_path):
    Release.objects.filter(sequence=12).update(hook_command=f"touch {tmp_path / 'ran'}")
    job = update_apply_request(sequence=12)
    UpdateJob.objects.filter(pk=job.pk).update(state="running", worker_id="reaped-worker")
    assert _job_fail(job, "reaped")
    job.worker_id = worker_id_current()
    with pytest.raises(UpdateJobTakenAway):
        _apply_releases(job)
    assert not (tmp_path / "ran").exists()


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="terminates the job's PostgreSQL backend",
)
@pytest.mark.django_db(transaction=True)
def test_lost_database_connection_mid_hook_leaves_no_hook_running(
    installed_license, releases, tmp_path
):
    Release.objects.filter(sequence=12).update(hook_command=_hook_in(tmp_path))
    job = update_apply_request(sequence=12)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]

    def cut_the_connection():
        # What a PostgreSQL restart does to the worker's session, without restarting the
        # server other sessions share.
        try:
            _wait_for(tmp_path / "pids")
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
        finally:
            connection.close()

    thread = threading.Thread(target=cut_the_connection)
    thread.start()
    with pytest.raises(DatabaseError):
        update_job_execute(job_id=job.pk)
    thread.join()
    assert not any(_pid_alive(int(p)) for p in (tmp_path / "pids").read_text().split())
    connection.close()

    # The reaper fails the orphaned job; applying again runs the hook once more, to the end.
    assert update_jobs_fail_stale(now=timezone.now() + timedelta(hours=1)) == [job.pk]
    (tmp_path / "pids").unlink()
    (tmp_path / "go").touch()
    again = update_apply_request(sequence=12)
    assert update_job_execute(job_id=again.pk) == JobState.SUCCEEDED
    assert _current_sequence() == 12
    assert UpdateJob.objects.get(pk=job.pk).state == "failed"


def test_one_active_job_is_enforced_by_the_database(installed_license, releases):
    from django.db import IntegrityError, transaction

    job = update_apply_request(sequence=12)
    with pytest.raises(IntegrityError), transaction.atomic():
        UpdateJob.objects.create(target_release=job.target_release, target_sequence=12)


# The worker command manages its own connections, so it cannot run inside a test transaction.
@pytest.mark.django_db(transaction=True)
def test_worker_command_runs_the_enqueued_job(installed_license, releases):
    job = update_apply_request(sequence=12)  # autocommit: enqueued at once
    call_command("worker", "--once", "--queue-name", "updates")
    job.refresh_from_db()
    assert job.state == "succeeded"
    assert _current_sequence() == 12


# --- releases import ---------------------------------------------------------------------------


MANIFEST = """
channel: Unstable
releases:
  - sequence: 20
    version: "2.0.0"
    release_date: 2026-01-02T03:04:05Z
    required: true
    release_notes: Big one
    hook:
      command: ["sh", "-c", "echo migrating"]
      timeout_seconds: 60
  - sequence: 21
    version: 2.1
"""


def test_releases_import_from_yaml_manifest(tmp_path):
    path = tmp_path / "manifest.yaml"
    path.write_text(MANIFEST)
    call_command("releases_import", str(path))
    first = Release.objects.get(sequence=20)
    assert (first.version, first.required, first.channel) == ("2.0.0", True, "Unstable")
    assert first.hook_command == "sh -c 'echo migrating'" and first.hook_timeout_seconds == 60
    assert first.release_date.isoformat() == "2026-01-02T03:04:05+00:00"
    assert Release.objects.get(sequence=21).version == "2.1"
    # Re-importing updates in place.
    assert releases_import(data=MANIFEST.replace("Big one", "Bigger")) == (0, 1)


def test_releases_import_from_json_manifest():
    data = json.dumps([{"sequence": 5, "version": "0.5", "required": False}])
    assert releases_import(data=data) == (1, 0)
    assert Release.objects.get(sequence=5).channel == "Stable"


@pytest.mark.parametrize(
    "manifest, message",
    [
        ("releases: []", "non-empty"),
        ("releases: [{version: '1'}]", "sequence must be a positive"),
        ("releases: [{sequence: 1}]", "version is required"),
        (
            "releases: [{sequence: 1, version: '1', required: 'yes'}]",
            "required must be true or false",
        ),
        ("releases: [{sequence: 1, version: '1', release_date: 'soon'}]", "release_date"),
        ("releases: [{sequence: 1, version: a}, {sequence: 1, version: b}]", "more than once"),
        ("{bad yaml", "neither JSON nor YAML"),
        ("a: &a {sequence: 1, version: '1'}\nreleases: [*a, *a]", "aliases"),
        ("[" * 20000, "nested too deeply"),
    ],
)
def test_bad_manifests_import_nothing(manifest, message):
    with pytest.raises(ManifestError, match=message):
        releases_import(data=manifest)
    assert not Release.objects.exists()


def test_releases_import_command_reports_errors(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("releases: [{sequence: 0, version: x}]")
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("releases_import", str(path))


def test_apply_request_conflict_message_names_the_running_job(installed_license, releases):
    first = update_apply_request(sequence=12)
    with pytest.raises(UpdateConflict, match=f"#{first.pk}"):
        update_apply_request(sequence=12)
