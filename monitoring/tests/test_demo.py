"""The monitoring demo data, as `manage.py bootstrap` loads it on a fresh install."""

import itertools
import shlex
from pathlib import Path

import pytest

from audits.models import AuditEvent
from integration_site.registry import registry
from monitoring.demo import DEMO_CLIENTS, DEMO_FLAPPING, load_demo
from monitoring.models import (
    CheckDefinition,
    CheckResult,
    Client,
    Event,
    Handler,
    HandlerType,
    Notification,
    Silence,
)
from monitoring.monitors import keepalive_monitor_run

pytestmark = pytest.mark.django_db


def snapshot() -> dict:
    return {
        "clients": sorted(Client.objects.values_list("name", "timestamp")),
        "checks": CheckDefinition.objects.count(),
        "results": sorted(CheckResult.objects.values_list("client__name", "check_name", "history")),
        "events": sorted(Event.objects.values_list("client__name", "check_name", "occurrences")),
        "silences": list(Silence.objects.values_list("silence_id", "expires_at")),
        "audit_events": AuditEvent.objects.count(),
        "handlers": sorted(Handler.objects.values_list("name", "updated_at")),
        "notifications": Notification.objects.count(),
    }


def test_the_monitoring_demo_is_registered_for_bootstrap():
    assert registry["demo_loaders"]["monitoring"] is load_demo


def test_demo_loads_clients_open_events_of_two_severities_and_a_silence():
    said = []
    load_demo(said.append)
    assert set(Client.objects.values_list("name", flat=True)) == {n for n, _, _ in DEMO_CLIENTS}
    assert CheckDefinition.objects.count() == 4
    severities = {event.severity for event in Event.objects.all()}
    assert Event.objects.count() >= 2
    assert {"warning", "critical"} <= severities
    [silence] = Silence.objects.all()
    assert silence.silence_id == "client:web-2:check_http"
    assert Event.objects.filter(client__name="web-2", check_name="check_http").exists()
    assert said == [
        "Monitoring: 4 clients, 4 checks, 4 open events (one flapping), 1 silence, 3 handlers "
        "(the worker appends critical events to var/notifications.log)."
    ]


def test_demo_has_a_failing_check_that_flaps():
    load_demo(lambda line: None)
    client, check = DEMO_FLAPPING
    event = Event.objects.get(client__name=client, check_name=check)
    assert event.action == Event.Action.FLAPPING
    assert event.status == 1
    # The full ring of 21 results, alternating: the state change the engine judged.
    statuses = [entry[0] for entry in CheckResult.objects.get(client__name=client).history]
    assert len(statuses) == 21 and all(a != b for a, b in itertools.pairwise(statuses))
    assert event.check_data["total_state_change"] >= event.check_data["high_flap_threshold"]


def test_demo_clients_raise_no_keepalive_alert():
    # Nothing sends the demo clients keepalives: with keepalives on, each would go CRITICAL
    # 180 s after loading and hide the demo's own events.
    load_demo(lambda line: None)
    assert not Client.objects.filter(keepalives=True).exists()
    keepalive_monitor_run(now=Client.objects.get(name="web-1").timestamp + 3600)
    assert not Event.objects.filter(check_name="keepalive").exists()


def test_loading_the_demo_twice_duplicates_nothing():
    load_demo(lambda line: None)
    first = snapshot()
    load_demo(lambda line: None)
    assert snapshot() == first


def test_demo_handlers_notify_a_file_through_the_default_set(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    load_demo(lambda line: None)
    notify = Handler.objects.get(name="notify-file")
    assert notify.type == HandlerType.PIPE
    assert notify.shell is False
    program, option, log = shlex.split(notify.command)
    assert Path(program).is_absolute() and Path(program).name == "tee" and option == "-a"
    assert log == str(tmp_path / "var" / "notifications.log")
    assert (tmp_path / "var").is_dir()
    assert notify.severities == ["critical"]
    assert notify.filters == ["occurrences"]
    assert Handler.objects.get(name="default").handlers == ["notify-file"]
    # The webhook is an example only: no check and no set names it.
    hook = Handler.objects.get(name="webhook-example")
    assert hook.type == HandlerType.HTTP and "never runs" in hook.attributes["description"]
    named = [n for c in CheckDefinition.objects.all() for n in c.handlers]
    named += [n for h in Handler.objects.filter(type=HandlerType.SET) for n in h.handlers]
    assert named and "webhook-example" not in named
    # The handlers existed when the results were replayed: the engine queued the demo's
    # events for the worker, the critical ones among them.
    queued = list(Notification.objects.values_list("event", flat=True))
    critical = {
        (e["client"]["name"], e["check"]["name"]) for e in queued if e["check"]["status"] == 2
    }
    assert critical == {("db-1", "check_disk"), ("db-1", "check_backup")}
