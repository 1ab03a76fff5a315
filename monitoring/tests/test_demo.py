"""The monitoring demo data, as `manage.py bootstrap` loads it on a fresh install."""

import pytest

from audits.models import AuditEvent
from integration_site.registry import registry
from monitoring.demo import DEMO_CLIENTS, load_demo
from monitoring.models import CheckDefinition, CheckResult, Client, Event, Silence
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
    }


def test_the_monitoring_demo_is_registered_for_bootstrap():
    assert registry["demo_loaders"]["monitoring"] is load_demo


def test_demo_loads_clients_open_events_of_two_severities_and_a_silence():
    said = []
    load_demo(said.append)
    assert set(Client.objects.values_list("name", flat=True)) == {n for n, _, _ in DEMO_CLIENTS}
    assert CheckDefinition.objects.count() == 3
    severities = {event.severity for event in Event.objects.all()}
    assert Event.objects.count() >= 2
    assert {"warning", "critical"} <= severities
    [silence] = Silence.objects.all()
    assert silence.silence_id == "client:web-2:check_http"
    assert Event.objects.filter(client__name="web-2", check_name="check_http").exists()
    assert said == ["Monitoring: 3 clients, 3 checks, 3 open events, 1 silence."]


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
