"""
Engine -> Notification -> dispatch -> HandlerRun, end to end: sensu/lib/sensu/server/process.rb
process_event (derive_handlers, filter_event, mutate_event, handle_event) run by the worker.
"""

import json
import os
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from audits.chain import audit_chain_verify, chain_link_pending
from audits.models import AuditEvent
from integration_site.models import WorkerHeartbeat
from monitoring.engine import result_process
from monitoring.handling.dispatch import (
    handler_runs_claim,
    handler_runs_fail_abandoned,
    handling_dispatch_once,
    notifications_dispatch,
)
from monitoring.handling.retention import handler_runs_purge
from monitoring.models import (
    Client,
    Event,
    Filter,
    Handler,
    HandlerRun,
    Mutator,
    Notification,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_web():
    # Created directly: monitoring.services imports the scheduler, which imports this
    # package, so the handling tests stay below services (no import cycle in monitoring).
    return web_client_create(attributes={"password": "hunter2"})


def web_client_create(**extra) -> Client:
    return Client.objects.create(
        name="web-1", address="10.0.0.1", subscriptions=["web", "client:web-1"], **extra
    )


def publish(status: int, check: str = "disk", **extra):
    return result_process(
        client_name="web-1",
        check={"name": check, "status": status, "output": f"s{status}", **extra},
    )


def test_a_critical_result_reaches_a_pipe_handler_end_to_end(client_web, tmp_path):
    out = tmp_path / "notified.json"
    Handler.objects.create(name="default", type="pipe", command=f"tee {out}")
    publish(2)
    assert Notification.objects.count() == 1
    summary = handling_dispatch_once()
    assert summary.notifications == 1
    assert summary.runs == {"succeeded": 1}
    assert Notification.objects.count() == 0
    run = HandlerRun.objects.get()
    event = Event.objects.get()
    assert (run.state, run.handler, run.client_name, run.check_name) == (
        "succeeded",
        "default",
        "web-1",
        "disk",
    )
    assert run.event_uuid == event.uuid
    assert (run.action, run.status, run.attempts, run.exit_status) == ("create", 2, 1, 0)
    handed = json.loads(out.read_text())
    assert handed["id"] == str(event.uuid)
    assert handed["check"]["status"] == 2 and handed["action"] == "create"
    # The client is redacted as /clients shows it: the handler never sees the password.
    assert handed["client"]["password"] == "REDACTED"
    assert json.loads(run.data) == handed


def test_results_that_sensu_would_not_handle_make_no_run(client_web):
    Handler.objects.create(name="default", type="pipe", command="true")
    publish(0)  # OK with no event: update_event_registry yields false.
    assert handling_dispatch_once().notifications == 0
    assert not HandlerRun.objects.exists()


def test_an_ok_metric_result_is_handled(client_web):
    # process.rb update_event_registry: `elsif event[:check][:type] == METRIC_CHECK_TYPE`.
    Handler.objects.create(name="graphite", type="pipe", command="true")
    publish(0, check="cpu", type="metric", handlers=["graphite"])
    handling_dispatch_once()
    assert HandlerRun.objects.get().state == "succeeded"


def test_a_resolve_is_handled(client_web):
    Handler.objects.create(name="default", type="pipe", command="true", severities=["critical"])
    publish(2)
    publish(0)
    handling_dispatch_once()
    assert list(HandlerRun.objects.order_by("id").values_list("action", "state")) == [
        ("create", "succeeded"),
        ("resolve", "succeeded"),
    ]


def test_filtered_handlers_are_recorded_with_the_reason(client_web):
    Handler.objects.create(name="pager", type="pipe", command="true", severities=["critical"])
    Handler.objects.create(name="mail", type="pipe", command="true", filters=["production"])
    Filter.objects.create(name="production", attributes={"client": {"environment": "production"}})
    publish(1, handlers=["pager", "mail"])
    summary = handling_dispatch_once()
    assert summary.runs == {}
    runs = dict(HandlerRun.objects.values_list("handler", "reason"))
    assert runs == {
        "pager": "handler does not handle event severity",
        "mail": "filtered by production",
    }
    assert set(HandlerRun.objects.values_list("state", flat=True)) == {"filtered"}
    assert not AuditEvent.objects.filter(action="notify").exists()


def test_sets_are_expanded_and_each_handler_runs_once(client_web, tmp_path):
    Handler.objects.create(name="a", type="pipe", command="true")
    Handler.objects.create(name="b", type="pipe", command="true")
    Handler.objects.create(name="team", type="set", handlers=["a", "b"])
    Handler.objects.create(name="everyone", type="set", handlers=["team", "a"])
    publish(2, handlers=["everyone", "b"])
    handling_dispatch_once()
    assert sorted(HandlerRun.objects.values_list("handler", flat=True)) == ["a", "b"]


def test_a_failing_handler_does_not_block_another(client_web, tmp_path):
    out = tmp_path / "second.json"
    Handler.objects.create(name="broken", type="pipe", command="echo down; exit 2", shell=True)
    Handler.objects.create(name="slow", type="pipe", command="sleep 300", timeout=1)
    Handler.objects.create(name="works", type="pipe", command=f"tee {out}")
    publish(2, handlers=["broken", "slow", "works"])
    summary = handling_dispatch_once()
    assert summary.runs == {"failed": 1, "timed_out": 1, "succeeded": 1}
    broken = HandlerRun.objects.get(handler="broken")
    assert (broken.exit_status, broken.output, broken.reason) == (2, "down\n", "exit status 2")
    assert HandlerRun.objects.get(handler="slow").state == "timed_out"
    assert json.loads(out.read_text())["check"]["name"] == "disk"


def test_a_failing_mutator_means_the_handler_does_not_run(client_web, tmp_path):
    out = tmp_path / "never"
    Mutator.objects.create(name="broken", command="false")
    Handler.objects.create(name="default", type="pipe", command=f"tee {out}", mutator="broken")
    publish(2)
    handling_dispatch_once()
    run = HandlerRun.objects.get()
    assert run.state == "failed"
    assert run.reason == "mutator broken failed: exit status 1; the handler did not run"
    assert not out.exists()


def test_each_executed_run_is_audited_once(client_web):
    Handler.objects.create(name="ok", type="pipe", command="true")
    Handler.objects.create(name="bad", type="pipe", command="false")
    Handler.objects.create(name="picky", type="pipe", command="true", severities=["warning"])
    publish(2, handlers=["ok", "bad", "picky"])
    handling_dispatch_once()
    event = Event.objects.get()
    audits = AuditEvent.objects.filter(action="notify").order_by("id")
    assert [(a.target_type, a.target_id, a.is_failure) for a in audits] == [
        ("SensuEvent", str(event.uuid), False),
        ("SensuEvent", str(event.uuid), True),
    ]
    assert "handler ok (pipe) notified" in audits[0].description
    assert audits[1].audited_changes["state"] == "failed"
    # Stored pending (no chain lock per run); the worker's tick links them into the chain.
    assert {a.seq for a in audits} == {None}
    assert chain_link_pending() >= 2
    assert audit_chain_verify().ok


def test_metric_runs_are_not_audited(client_web):
    Handler.objects.create(name="graphite", type="pipe", command="true")
    publish(0, check="cpu", type="metric", handlers=["graphite"])
    handling_dispatch_once()
    assert HandlerRun.objects.get().state == "succeeded"
    assert not AuditEvent.objects.filter(action="notify").exists()


def test_http_handler_retries_with_backoff_then_succeeds(client_web, webhook_receiver):
    webhook_receiver.statuses = [500, 503]
    Handler.objects.create(
        name="default",
        type="http",
        http_url=webhook_receiver.url,
        http_headers={"X-Token": "t0ken"},
        http_retries=3,
    )
    publish(2)
    before = timezone.now()
    handling_dispatch_once()
    run = HandlerRun.objects.get()
    assert (run.state, run.attempts, run.exit_status) == ("pending", 1, 500)
    assert run.next_attempt_at >= before + timedelta(seconds=1)
    assert "attempt 2 in 1 s" in run.reason
    # Not due yet: nothing runs.
    assert handling_dispatch_once().runs == {}
    handling_dispatch_once(now=timezone.now() + timedelta(seconds=1, milliseconds=500))
    run.refresh_from_db()
    assert (run.state, run.attempts, run.exit_status) == ("pending", 2, 503)
    assert "attempt 3 in 2 s" in run.reason
    handling_dispatch_once(now=timezone.now() + timedelta(seconds=10))
    run.refresh_from_db()
    assert (run.state, run.attempts, run.exit_status) == ("succeeded", 3, 200)
    bodies = {r["body"] for r in webhook_receiver.requests}
    assert len(webhook_receiver.requests) == 3 and len(bodies) == 1
    assert json.loads(bodies.pop())["check"]["name"] == "disk"
    assert {r["headers"]["X-Token"] for r in webhook_receiver.requests} == {"t0ken"}
    assert AuditEvent.objects.filter(action="notify").count() == 1


def test_http_handler_gives_up_after_its_retries(client_web, webhook_receiver):
    webhook_receiver.statuses = [500, 500]
    Handler.objects.create(
        name="default", type="http", http_url=webhook_receiver.url, http_retries=1
    )
    publish(2)
    handling_dispatch_once()
    handling_dispatch_once(now=timezone.now() + timedelta(minutes=10))
    run = HandlerRun.objects.get()
    # The URL's path (where webhooks keep their secret) is not shown.
    host = webhook_receiver.url.rsplit("/", 1)[0]
    assert (run.state, run.attempts, run.reason) == ("failed", 2, f"HTTP 500 from {host}/…")


def test_a_run_is_claimed_once(client_web):
    Handler.objects.create(name="default", type="pipe", command="true")
    publish(2)
    notifications_dispatch()
    first = handler_runs_claim(worker_id="worker-a", limit=10)
    second = handler_runs_claim(worker_id="worker-b", limit=10)
    assert len(first) == 1 and second == []
    assert HandlerRun.objects.get().worker_id == "worker-a"


def test_a_run_left_running_by_a_dead_worker_is_failed_not_rerun(client_web):
    Handler.objects.create(name="default", type="pipe", command="true")
    for _ in range(3):
        publish(2)
    notifications_dispatch()
    gone, alive, recent = HandlerRun.objects.order_by("id")
    now = timezone.now()
    long_ago = now - timedelta(minutes=10)
    WorkerHeartbeat.objects.create(
        worker_id="alive-1",
        hostname=socket.gethostname()[:255],
        pid=os.getpid(),
        started_at=now,
        last_seen_at=now,
    )
    HandlerRun.objects.filter(pk=gone.pk).update(
        state="running", worker_id="gone-1", started_at=long_ago
    )
    HandlerRun.objects.filter(pk=alive.pk).update(
        state="running", worker_id="alive-1", started_at=long_ago
    )
    # No heartbeat either, but started a moment ago: a synchronous dispatcher's run.
    HandlerRun.objects.filter(pk=recent.pk).update(
        state="running", worker_id="bench-1", started_at=now
    )
    assert handler_runs_fail_abandoned() == 1
    for run in (gone, alive, recent):
        run.refresh_from_db()
    assert gone.state == "failed"
    assert "gone-1 is gone" in gone.reason and "not run again" in gone.reason
    assert (alive.state, recent.state) == ("running", "running")
    assert handling_dispatch_once().runs == {}


def test_retention_purges_old_runs_in_batches(client_web, settings):
    settings.MONITORING_HANDLER_RUN_RETENTION_DAYS = 30
    Handler.objects.create(name="default", type="pipe", command="true")
    for _ in range(5):
        publish(2)
    notifications_dispatch()
    old = timezone.now() - timedelta(days=31)
    ids = list(HandlerRun.objects.order_by("id").values_list("id", flat=True))
    HandlerRun.objects.filter(pk__in=ids[:3]).update(created_at=old)
    assert handler_runs_purge(batch_size=2) == 3
    assert list(HandlerRun.objects.order_by("id").values_list("id", flat=True)) == ids[3:]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_runs_execute_in_a_thread_pool_on_postgresql(tmp_path):
    web_client_create()
    names = [f"h{i}" for i in range(6)]
    for name in names:
        Handler.objects.create(name=name, type="pipe", command=f"tee {tmp_path / name}")
    publish(2, handlers=names)
    summary = handling_dispatch_once(concurrency=3)
    assert summary.runs == {"succeeded": 6}
    assert all((tmp_path / name).exists() for name in names)


def test_admin_lists_handler_runs_and_the_event_page_shows_them(client_web, admin_client):
    Handler.objects.create(name="default", type="pipe", command="echo told")
    Handler.objects.create(name="picky", type="pipe", command="true", severities=["warning"])
    publish(2, handlers=["default", "picky"])
    handling_dispatch_once()
    event = Event.objects.get()
    listing = admin_client.get("/admin/monitoring/handlerrun/")
    assert listing.status_code == 200
    assert b"does not handle event severity" in listing.content
    assert (
        admin_client.get("/admin/monitoring/handlerrun/?state=succeeded&q=web-1").status_code == 200
    )
    run = HandlerRun.objects.get(handler="default")
    detail = admin_client.get(f"/admin/monitoring/handlerrun/{run.pk}/change/")
    assert detail.status_code == 200 and b"told" in detail.content
    assert admin_client.get("/admin/monitoring/handlerrun/add/").status_code == 403
    page = admin_client.get(f"/admin/monitoring/event/{event.pk}/change/")
    assert page.status_code == 200
    assert b"Handler runs" in page.content
    assert f"?event_uuid={event.uuid}".encode() in page.content
    filtered = admin_client.get(f"/admin/monitoring/handlerrun/?event_uuid={event.uuid}")
    assert filtered.status_code == 200 and b"picky" in filtered.content
    by_handler = admin_client.get("/admin/monitoring/handlerrun/?handler=picky&action=create")
    assert by_handler.status_code == 200
    assert list(by_handler.context["cl"].queryset.values_list("handler", flat=True)) == ["picky"]


def test_handler_run_changelist_makes_no_query_per_row(
    client_web, admin_client, django_assert_max_num_queries
):
    Handler.objects.create(name="default", type="pipe", command="true")
    for _ in range(30):
        publish(2)
    notifications_dispatch()
    admin_client.get("/admin/monitoring/handlerrun/")  # Warm the session.
    with django_assert_max_num_queries(12) as captured:
        assert admin_client.get("/admin/monitoring/handlerrun/").status_code == 200
    page = [q["sql"] for q in captured.captured_queries if "monitoring_handlerrun" in q["sql"]]
    assert page and not any('"data"' in sql for sql in page)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_worker_thread_loop_dispatches_and_runs(tmp_path):
    import threading
    import time

    from monitoring.handling.dispatch import handling_loop

    web_client_create()
    Handler.objects.create(name="default", type="pipe", command=f"tee {tmp_path / 'out'}")
    publish(2)
    stopping = threading.Event()
    thread = threading.Thread(target=handling_loop, args=(stopping,))
    thread.start()
    try:
        # Polls for the outcome; the bound only stops a hang, no duration is asserted.
        for _ in range(600):
            if HandlerRun.objects.filter(state="succeeded").exists():
                break
            time.sleep(0.05)
    finally:
        stopping.set()
        thread.join(30)
    assert not thread.is_alive()
    assert HandlerRun.objects.get().state == "succeeded"
    assert (tmp_path / "out").exists()
    assert not Notification.objects.exists()


def test_the_worker_runs_handling_and_its_retention():
    from integration_site.registry import registry
    from monitoring.handling.dispatch import handling_loop

    assert handling_loop in registry["worker_threads"]
    assert "monitoring.tasks.handler_runs_retention" in registry["periodic_jobs"]
