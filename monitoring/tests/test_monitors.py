"""Keepalive and TTL monitors (Sensu's client_monitor and check_result_monitor)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integration_site.schedule import enqueue_due_periodic_tasks, registered_periodic_tasks
from monitoring.engine import result_process
from monitoring.models import CheckResult, Client, Event
from monitoring.monitors import keepalive_monitor_run, ttl_monitor_run
from monitoring.services import client_register

pytestmark = pytest.mark.django_db

NOW = 1_700_000_000


def register(name="web-1", *, age=0, keepalives=True, keepalive=None):
    client = client_register(
        data={"name": name, "address": "10.0.0.1", "keepalives": keepalives, "keepalive": keepalive}
    )
    Client.objects.filter(pk=client.pk).update(timestamp=NOW - age)
    return client


def keepalive_event(name="web-1"):
    return Event.objects.filter(client__name=name, check_name="keepalive").first()


@pytest.mark.parametrize(
    ("age", "status"), [(0, None), (119, None), (120, 1), (179, 1), (180, 2), (3600, 2)]
)
def test_keepalive_ages_at_the_thresholds(age, status):
    register(age=age)
    keepalive_monitor_run(now=NOW)
    event = keepalive_event()
    assert (event.status if event else None) == status
    result = CheckResult.objects.get(check_name="keepalive")
    if status == 2:
        assert result.output == f"No keepalive sent from client for {age} seconds (>=180)"
    elif status is None:
        assert result.output == f"Keepalive sent from client {age} seconds ago"


def test_keepalive_thresholds_overridable_per_client():
    register(age=45, keepalive={"thresholds": {"warning": 30, "critical": 60}})
    keepalive_monitor_run(now=NOW)
    assert keepalive_event().status == 1
    assert keepalive_event().check_data["thresholds"] == {"warning": 30, "critical": 60}


def test_keepalive_thresholds_from_settings(settings):
    settings.MONITORING_KEEPALIVE_WARNING_SECONDS = 10
    register(age=15)
    keepalive_monitor_run(now=NOW)
    assert keepalive_event().status == 1


def test_keepalive_event_resolves_when_client_comes_back():
    client = register(age=200)
    keepalive_monitor_run(now=NOW)
    assert keepalive_event().status == 2
    Client.objects.filter(pk=client.pk).update(timestamp=NOW + 25)
    keepalive_monitor_run(now=NOW + 30)
    assert keepalive_event() is None


def test_clients_without_keepalives_are_skipped():
    register(age=1000, keepalives=False)
    assert keepalive_monitor_run(now=NOW) == 0
    assert keepalive_event() is None


def test_keepalive_monitor_is_idempotent_within_a_tick():
    register(age=200)
    assert keepalive_monitor_run(now=NOW) == 1
    assert keepalive_monitor_run(now=NOW + 1) == 0
    assert keepalive_event().occurrences == 1
    assert keepalive_monitor_run(now=NOW + 30) == 1
    assert keepalive_event().occurrences == 2


def ttl_result(name="web-1", *, ttl=60, executed=NOW - 61, **extra):
    result_process(
        client_name=name,
        check={
            "name": "cron",
            "status": 0,
            "output": "ok",
            "ttl": ttl,
            "executed": executed,
            **extra,
        },
        now=executed,
    )


def test_ttl_monitor_uses_ttl_status():
    register()
    ttl_result(ttl_status=2)
    assert ttl_monitor_run(now=NOW) == 1
    event = Event.objects.get(check_name="cron")
    assert event.status == 2
    assert event.output == "Last check execution was 61 seconds ago"
    assert event.check_data["interval"] == 30
    assert ttl_monitor_run(now=NOW + 5) == 0, "idempotent within a tick"
    assert ttl_monitor_run(now=NOW + 30) == 1
    assert Event.objects.get(check_name="cron").occurrences == 2


def test_ttl_defaults_to_warning_and_waits_for_the_ttl():
    register()
    ttl_result(executed=NOW - 30)
    assert ttl_monitor_run(now=NOW) == 0
    assert ttl_monitor_run(now=NOW + 31) == 1
    assert Event.objects.get(check_name="cron").status == 1


def test_ttl_skipped_while_client_has_keepalive_event():
    register(age=500)
    ttl_result()
    keepalive_monitor_run(now=NOW)
    assert keepalive_event() is not None
    assert ttl_monitor_run(now=NOW) == 0
    assert not Event.objects.filter(check_name="cron").exists()


def test_ttl_ignores_force_resolved_results():
    register()
    ttl_result()
    ttl_monitor_run(now=NOW)
    from monitoring.engine import event_resolve

    event_resolve(client_name="web-1", check_name="cron")
    assert ttl_monitor_run(now=NOW + 300) == 0


def test_monitors_are_periodic_every_30_seconds_and_claimed_once():
    names = {t.name: t for t in registered_periodic_tasks()}
    for name in ("monitoring.tasks.keepalive_monitor", "monitoring.tasks.ttl_monitor"):
        assert names[name].every == timedelta(seconds=30)
    now = timezone.now()
    first = enqueue_due_periodic_tasks(now=now)
    assert "monitoring.tasks.keepalive_monitor" in first
    # A second worker ticking at the same moment claims nothing.
    second = enqueue_due_periodic_tasks(now=now)
    assert "monitoring.tasks.keepalive_monitor" not in second
    later = enqueue_due_periodic_tasks(now=now + timedelta(seconds=31))
    assert "monitoring.tasks.keepalive_monitor" in later
