"""
The dashboard's monitoring panel: aggregate counts by severity and clients by worst status,
the snapshot job behind the 24-hour chart (written, pruned), its demo back-fill, and the
charts' data and links.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.dashboard import event_list_url, events_panel
from monitoring.engine import event_is_silenced, result_process
from monitoring.models import Client, Event, MonitoringSnapshot, Silence
from monitoring.selectors import silences_active
from monitoring.services import client_register, silence_create
from monitoring.snapshots import (
    SNAPSHOT_KEEP,
    client_counts_by_status,
    event_counts_by_severity,
    load_snapshot_history_demo,
    monitoring_snapshot,
    monitoring_snapshot_take,
    silenced_event_count,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def events():
    """web-1: warning and critical; db-1: warning; cache-1: unknown; idle-1: no event."""
    for name in ("web-1", "db-1", "cache-1", "idle-1"):
        client_register(data={"name": name, "address": "10.0.0.1"})
    result_process(client_name="web-1", check={"name": "http", "status": 1, "output": "slow"})
    result_process(client_name="web-1", check={"name": "disk", "status": 2, "output": "full"})
    result_process(client_name="db-1", check={"name": "disk", "status": 1, "output": "80%"})
    result_process(client_name="cache-1", check={"name": "mem", "status": 5, "output": "?"})


def test_counts_are_aggregates_of_open_events_and_worst_status(events):
    with CaptureQueriesContext(connection) as queries:
        counts = event_counts_by_severity()
        clients = client_counts_by_status()
    assert len(queries) == 4  # no row per event or client (1: the live silences, none)
    assert (counts.warning, counts.critical, counts.unknown, counts.total) == (2, 1, 1, 4)
    assert (clients.ok, clients.warning, clients.critical, clients.unknown) == (1, 1, 1, 1)


def test_snapshot_job_records_counts_and_prunes_after_two_days(events):
    now = timezone.now()
    old = MonitoringSnapshot.objects.create(taken_at=now - SNAPSHOT_KEEP - timedelta(minutes=1))
    kept = MonitoringSnapshot.objects.create(taken_at=now - SNAPSHOT_KEEP + timedelta(minutes=1))
    pk = monitoring_snapshot.call()
    snapshot = MonitoringSnapshot.objects.get(pk=pk)
    assert (snapshot.events_warning, snapshot.events_critical, snapshot.events_unknown) == (2, 1, 1)
    assert (snapshot.clients_ok, snapshot.clients_critical) == (1, 1)
    assert not MonitoringSnapshot.objects.filter(pk=old.pk).exists()
    assert MonitoringSnapshot.objects.filter(pk=kept.pk).exists()


def test_demo_back_fill_covers_24_hours_once(events):
    load_snapshot_history_demo(lambda line: None)
    snapshots = list(MonitoringSnapshot.objects.order_by("taken_at"))
    assert len(snapshots) == 24 * 12 + 1
    assert snapshots[-1].taken_at - snapshots[0].taken_at == timedelta(hours=24)
    assert snapshots[-1].events_critical == 1  # ends at the events open now
    assert len({s.events_warning for s in snapshots}) > 1  # it has a shape
    load_snapshot_history_demo(lambda line: None)
    assert MonitoringSnapshot.objects.count() == len(snapshots)


def test_events_panel_charts_and_their_links(events, rf, superuser):
    monitoring_snapshot_take(now=timezone.now() - timedelta(hours=25))  # outside the chart
    monitoring_snapshot_take(now=timezone.now() - timedelta(hours=1))
    Event.objects.filter(check_name="http").delete()  # resolved since
    request = rf.get("/admin/")
    request.user = superuser
    panel = events_panel(request)
    now_chart, history, clients = panel.charts
    assert now_chart.labels == ["Critical", "Warning", "Unknown"]
    assert now_chart.series[0].values == [1, 1, 1]
    assert now_chart.series[0].links == [
        "/admin/monitoring/event/?status=critical",
        "/admin/monitoring/event/?status=warning",
        "/admin/monitoring/event/?status=unknown",
    ]
    assert history.kind == "line" and len(history.labels) == 1
    assert {s.label: s.values for s in history.series} == {
        "Critical": [1],
        "Warning": [2],
        "Unknown": [1],
    }
    assert clients.kind == "doughnut"
    assert dict(zip(clients.labels, clients.series[0].values, strict=True)) == {
        "OK": 1,
        "Critical": 1,
        "Warning": 1,
        "Unknown": 1,
    }
    assert clients.link == "/admin/monitoring/event/overview/"
    assert panel.title and {label: value for label, value, _ in panel.rows}["Critical"] == "1"


def test_severity_links_open_the_filtered_event_list(events, client, superuser):
    client.force_login(superuser)
    response = client.get(event_list_url("critical"))
    assert [event.check_name for event in response.context["cl"].result_list] == ["disk"]
    assert {e.status for e in response.context["cl"].result_list} == {2}


@pytest.mark.parametrize(
    ("subscription", "check"),
    [
        (None, "disk"),  # *:disk
        ("client:web-1", None),  # every check of web-1
        ("client:web-1", "disk"),
        ("production", None),  # a subscription: its clients' events
        ("production", "disk"),
        ("nobody", None),
    ],
)
def test_silenced_count_matches_the_engine_per_event(events, subscription, check):

    Client.objects.filter(name__in=["web-1", "cache-1"]).update(subscriptions=["production"])
    silence_create(subscription=subscription, check=check)
    silences = silences_active()
    expected = sum(
        event_is_silenced(event, silences) for event in Event.objects.select_related("client")
    )
    assert silenced_event_count() == expected
    assert event_counts_by_severity().silenced == expected
    if subscription != "nobody":
        assert expected > 0


def test_a_silence_not_begun_or_expired_silences_nothing(events):

    silence_create(subscription=None, check="disk")
    Silence.objects.update(begin=timezone.now() + timedelta(hours=1))
    assert silenced_event_count() == 0
    Silence.objects.update(begin=None, expires_at=timezone.now() - timedelta(seconds=1))
    assert silenced_event_count() == 0
