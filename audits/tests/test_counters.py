"""
The dashboard's hourly audit counters: the roll-up counts each linked event once, whatever
its created_at or source, the live tail adds what it has not reached, retention subtracts
what it deletes, and the audit panel's charts show the sums and link to the filtered list.
"""

import io
import threading
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from django.core.management import call_command
from django.db import connection

from audits.chain import chain_link_pending
from audits.counters import audit_counts_roll_up, audit_counts_since, audit_scope_count
from audits.dashboard import audit_activity_panel, audit_list_url
from audits.models import (
    AuditCountWatermark,
    AuditEvent,
    AuditEventHourlyCount,
    AuditScopeCount,
    AuditSource,
)
from audits.services import audit_event_build, audit_event_record, audit_events_append
from audits.tests.test_chain import trigger_disabled

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 12, 30, tzinfo=UTC)
START = NOW - timedelta(days=40)


def hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def scanned() -> dict[tuple[datetime, str], int]:
    """The truth the counters must match: every event in the table, counted by a scan."""
    counts: dict[tuple[datetime, str], int] = {}
    for created_at, source in AuditEvent.objects.filter(created_at__gte=hour(START)).values_list(
        "created_at", "source"
    ):
        key = (hour(created_at.astimezone(UTC)), source)
        counts[key] = counts.get(key, 0) + 1
    return counts


def counted() -> dict[tuple[datetime, str], int]:
    return {key: n for key, n in audit_counts_since(START).counts.items() if n}


def counter_rows() -> dict[tuple[datetime, str], int]:
    return {
        (row.hour, row.source): row.count
        for row in AuditEventHourlyCount.objects.all()
        if row.hour >= hour(START)
    }


def scope_rows() -> dict[tuple[str, str, str, str], int]:
    return {
        (row.project, row.environment, row.group_id, row.crud): row.count
        for row in AuditScopeCount.objects.all()
        if row.count
    }


def scopes_scanned(*, through_watermark: bool = True) -> dict[tuple[str, str, str, str], int]:
    """The truth the scope counters must match: the events the roll-up reached, by a scan."""
    events = AuditEvent.objects.all()
    if through_watermark:
        mark = AuditCountWatermark.objects.filter(pk=1).values_list("seq", flat=True).first()
        events = events.filter(seq__lte=mark or 0)
    counts: dict[tuple[str, str, str, str], int] = {}
    for key in events.values_list("project", "environment", "group_id", "crud"):
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.fixture(autouse=True)
def frozen_now():
    with patch("django.utils.timezone.now", return_value=NOW):
        yield


def test_roll_up_counts_two_sources_by_hour_and_moves_the_watermark():
    two_hours_ago = NOW - timedelta(hours=2)
    for _ in range(3):
        audit_event_record(action="a", source=AuditSource.SITE, created_at=two_hours_ago)
    audit_event_record(action="b", source=AuditSource.INTEGRATION, created_at=two_hours_ago)
    audit_event_record(action="c", source=AuditSource.SYSTEM)
    audit_counts_roll_up()
    rows = counter_rows()
    assert rows[(hour(two_hours_ago), "site")] == 3
    assert rows[(hour(two_hours_ago), "integration")] == 1
    assert rows[(hour(NOW), "system")] == 1
    assert rows == scanned()
    assert AuditCountWatermark.objects.get().seq == AuditEvent.objects.order_by("-seq")[0].seq


def test_rerunning_the_roll_up_counts_nothing_twice():
    audit_event_record(action="a")
    first = audit_counts_roll_up()
    assert first == AuditEvent.objects.count()
    rows = counter_rows()
    assert audit_counts_roll_up() == 0
    assert counter_rows() == rows == scanned()


def test_late_event_with_an_old_created_at_lands_in_its_own_hour():
    audit_event_record(action="now")
    audit_counts_roll_up()
    ten_days_ago = NOW - timedelta(days=10, minutes=7)
    # Arrives after the roll-up, in an hour the counters had already closed.
    audit_event_record(action="late", source=AuditSource.INTEGRATION, created_at=ten_days_ago)
    assert counted()[(hour(ten_days_ago), "integration")] == 1  # from the tail
    audit_counts_roll_up()
    assert counter_rows()[(hour(ten_days_ago), "integration")] == 1
    assert counted() == scanned()


def test_the_unrolled_tail_and_pending_events_are_counted_once():
    audit_event_record(action="rolled")
    audit_counts_roll_up()
    audit_event_record(action="linked, not rolled")
    audit_events_append([audit_event_build(action="pending")], link=False)
    assert AuditEvent.objects.filter(seq__isnull=True).count() == 1
    assert counted() == scanned()
    assert counted()[(hour(NOW), "site")] > counter_rows()[(hour(NOW), "site")]
    audit_counts_roll_up()  # the pending event is not linked yet: it stays in the tail
    assert counted() == scanned()
    chain_link_pending()  # what the worker's tick does
    assert counted() == scanned()
    audit_counts_roll_up()
    assert counter_rows() == scanned() == counted()


def test_roll_up_in_small_batches_equals_one_pass():
    for i in range(7):
        audit_event_record(action=f"e{i}", created_at=NOW - timedelta(hours=i * 5))
    audit_counts_roll_up(batch_size=2)
    assert counter_rows() == scanned()


def test_a_fresh_site_without_a_watermark_counts_everything_from_the_tail():
    audit_event_record(action="a")
    AuditCountWatermark.objects.all().delete()
    assert counted() == scanned()


def test_retention_subtracts_the_expired_events_from_the_counters():
    old = NOW - timedelta(days=20)
    with patch("django.utils.timezone.now", return_value=old):
        for _ in range(4):
            audit_event_record(action="old", source=AuditSource.INTEGRATION)
    with trigger_disabled():  # the events the migrations recorded are older still
        AuditEvent.objects.filter(action="old").update(received_at=old)
        AuditEvent.objects.exclude(action="old").update(received_at=old - timedelta(days=1))
    audit_event_record(action="recent", source=AuditSource.INTEGRATION)
    audit_counts_roll_up()
    assert counter_rows()[(hour(old), "integration")] == 4
    call_command("audits_expire", "--days", "10", stdout=io.StringIO())
    assert not AuditEvent.objects.filter(action="old").exists()
    assert counter_rows().get((hour(old), "integration"), 0) == 0
    audit_counts_roll_up()  # the expiry's own audit.expire events
    assert {key: n for key, n in counter_rows().items() if n} == scanned() == counted()
    assert scope_rows() == scopes_scanned()


def test_audit_panel_charts_sum_counters_and_tail_and_link_each_day(rf, superuser):
    yesterday = NOW - timedelta(days=1)
    audit_event_record(action="a", source=AuditSource.INTEGRATION, created_at=yesterday)
    audit_counts_roll_up()
    audit_event_record(action="b", source=AuditSource.INTEGRATION, created_at=yesterday)
    request = rf.get("/admin/")
    request.user = superuser
    panel = audit_activity_panel(request)
    hourly, daily = panel.charts
    assert len(hourly.labels) == 48 and len(daily.labels) == 30
    assert [series.label for series in daily.series] == ["Integration", "Site", "System"]
    integration = daily.series[0]
    assert integration.values[-2] == 2  # counted and tail together
    assert daily.labels[-2] == "2026-06-14"
    assert integration.links[-2] == audit_list_url(day=yesterday, source="integration")
    assert (
        "created_at__range_from=2026-06-14&created_at__range_to=2026-06-14"
        in (integration.links[-2])
    )
    assert "source__exact=integration" in integration.links[-2]
    assert hourly.series[0].values[-25] == 2  # the same hour, yesterday
    assert daily.link.endswith("created_at__range_from=2026-05-17&created_at__range_to=2026-06-15")
    assert sum(sum(series.values) for series in daily.series) == sum(
        n for (at, _), n in scanned().items() if datetime(2026, 5, 17, tzinfo=UTC) <= at <= NOW
    )


def test_audit_panel_is_hidden_without_the_view_permission(rf, django_user_model):
    request = rf.get("/admin/")
    request.user = django_user_model.objects.create_user("plain", is_staff=True)
    assert audit_activity_panel(request) is None


def test_day_link_opens_the_audit_list_filtered_to_that_day(client, superuser):
    yesterday = NOW - timedelta(days=1)
    audit_event_record(action="yesterday.thing", created_at=yesterday)
    audit_event_record(action="today.thing")
    client.force_login(superuser)
    response = client.get(audit_list_url(day=yesterday, source="site"))
    shown = [event.action for event in response.context["cl"].result_list]
    assert shown == ["yesterday.thing"]


@pytest.mark.django_db(transaction=True)
def test_two_roll_ups_at_once_count_each_event_once():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the row lock is PostgreSQL's")
    for i in range(40):
        audit_event_record(action=f"e{i}", created_at=NOW - timedelta(hours=i))
    start = threading.Barrier(2)
    errors = []

    def roll_up():
        try:
            start.wait()
            audit_counts_roll_up(batch_size=7)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=roll_up) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert counter_rows() == scanned()


# --- Scope counts (the Retraced viewer's totalCount) ----------------------------------------


def _retraced(group_id: str, crud: str, *, project="default", environment="production"):
    event = audit_event_build(
        action=f"{group_id}.{crud or 'none'}",
        source=AuditSource.INTEGRATION,
        group_id=group_id,
        crud=crud,
    )
    event.project, event.environment = project, environment
    return event


def _scope_truth(*, project="default", environment="production", group_id=None, cruds) -> int:
    events = AuditEvent.objects.filter(project=project, environment=environment, crud__in=cruds)
    if group_id is not None:
        events = events.filter(group_id=group_id)
    return events.count()


CASES = [
    {"group_id": "g1", "cruds": frozenset("cud") | {""}},
    {"group_id": "g1", "cruds": frozenset("r")},
    {"group_id": "g2", "cruds": frozenset("crud") | {""}},
    {"group_id": None, "cruds": frozenset("cu")},
    {"group_id": "nobody", "cruds": frozenset("crud")},
    {"group_id": "g1", "project": "other", "cruds": frozenset("crud")},
]


def test_scope_counts_add_counters_and_the_tail_linked_and_pending():
    events = [
        _retraced(group, crud)
        for group, cruds in (("g1", "ccrud"), ("g2", "cu"), ("", "c"))
        for crud in [*cruds, ""]
    ]
    events.append(_retraced("g1", "c", project="other"))
    audit_events_append(events)
    for case in CASES:  # nothing rolled up: all of it is the tail
        assert audit_scope_count(environment="production", **{"project": "default", **case}) == (
            _scope_truth(**case)
        )
    audit_counts_roll_up()
    assert scope_rows() == scopes_scanned()
    assert scope_rows()[("default", "production", "g1", "c")] == 2
    # After the watermark: linked events and a pending one (single-event ingest) are the tail.
    audit_events_append([_retraced("g1", "c"), _retraced("g2", "u")])
    audit_events_append([_retraced("g1", "d")], link=False)
    for case in CASES:
        assert audit_scope_count(environment="production", **{"project": "default", **case}) == (
            _scope_truth(**case)
        ), case
    chain_link_pending()
    audit_counts_roll_up()
    assert scope_rows() == scopes_scanned(through_watermark=False)


def test_migration_backfills_the_scope_counts_of_events_already_rolled_up():
    from importlib import import_module

    from django.apps import apps

    audit_events_append([_retraced("g1", "c"), _retraced("g1", "u"), _retraced("g2", "c")])
    audit_counts_roll_up()
    audit_events_append([_retraced("g1", "c")])  # after the watermark: the roll-up's to count
    AuditScopeCount.objects.all().delete()  # as before migration 0022
    backfill = import_module("audits.migrations.0022_scope_counts").scope_counts_backfill
    backfill(apps, None)
    assert scope_rows() == scopes_scanned()
    assert scope_rows()[("default", "production", "g1", "c")] == 1
    audit_counts_roll_up()
    assert scope_rows()[("default", "production", "g1", "c")] == 2
