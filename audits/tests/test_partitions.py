"""
The event table partitioned by received time (PostgreSQL, migration 0019): partitions made
ahead, the DEFAULT partition's rows moving into a new partition, the append-only rules on
every partition, and retention that drops whole partitions and keeps the chain verifiable.
"""

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from audits.chain import GENESIS_HASH, audit_chain_verify, chain_link_pending, link_hash
from audits.counters import audit_counts_roll_up
from audits.models import (
    AuditCheckpoint,
    AuditEvent,
    AuditEventHourlyCount,
    AuditEventLocation,
    AuditScopeCount,
    Location,
)
from audits.partitions import (
    DEFAULT_PARTITION,
    audit_default_partition_rows,
    audit_partitions,
    audit_partitions_ensure,
    interval_next,
    interval_start,
    partition_ranges,
)
from audits.services import audit_event_build, audit_event_record, audit_events_expire

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitioning is PostgreSQL's"
)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def partition_of(event: AuditEvent) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM audits_auditevent WHERE id = %s", [event.pk]
        )
        return cursor.fetchone()[0]


def record_received(when: datetime, action: str = "old.thing", **values) -> AuditEvent:
    with patch("django.utils.timezone.now", return_value=when):
        return audit_event_record(action=action, received_at=when, **values)


# --- Interval arithmetic (every database) -------------------------------------------------


def test_intervals_are_utc_years_quarters_months_weeks_and_days():
    moment = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert interval_start(moment, "year") == utc(2026, 1, 1)
    assert interval_next(utc(2026, 1, 1), "year") == utc(2027, 1, 1)
    assert interval_start(moment, "quarter") == utc(2026, 10, 1)
    assert interval_start(utc(2026, 6, 30), "quarter") == utc(2026, 4, 1)
    assert interval_next(utc(2026, 10, 1), "quarter") == utc(2027, 1, 1)
    assert interval_next(utc(2027, 1, 1), "quarter") == utc(2027, 4, 1)
    assert interval_start(moment, "month") == utc(2026, 12, 1)
    assert interval_next(utc(2026, 12, 1), "month") == utc(2027, 1, 1)
    assert interval_next(utc(2027, 1, 1), "month") == utc(2027, 2, 1)
    assert interval_start(moment, "week") == utc(2026, 12, 28)  # a Monday
    assert interval_next(utc(2026, 12, 28), "week") == utc(2027, 1, 4)
    assert interval_start(moment, "day") == utc(2026, 12, 31)
    with pytest.raises(ValueError, match="year, quarter, month, week, day"):
        interval_start(moment, "fortnight")


def test_ranges_run_from_the_oldest_event_to_the_premade_intervals():
    ranges = partition_ranges(
        oldest=utc(2026, 10, 15), interval="month", premake=2, now=utc(2026, 12, 7)
    )
    assert [start.month for start, _ in ranges] == [10, 11, 12, 1, 2]
    assert all(end == interval_next(start, "month") for start, end in ranges)


def test_sqlite_has_nothing_to_partition(db, capsys):
    if connection.vendor == "postgresql":
        pytest.skip("the SQLite answer")
    assert audit_partitions() == []
    assert audit_partitions_ensure(since=utc(2020, 1, 1)) == []
    assert audit_default_partition_rows() == 0
    call_command("audit_partitions", "--ensure")
    assert "not partitioned" in capsys.readouterr().out


# --- PostgreSQL ----------------------------------------------------------------------------


@postgresql_only
@pytest.mark.django_db
def test_the_migration_made_this_interval_and_the_premade_ones():
    now = timezone.now()
    starts = [p.start for p in audit_partitions()]
    current = interval_start(now, "month")
    assert current in starts
    ahead = current
    for _ in range(3):  # AUDIT_PARTITION_PREMAKE
        ahead = interval_next(ahead, "month")
        assert ahead in starts
    event = audit_event_record(action="now.stored")
    assert partition_of(event) == f"audits_auditevent_p{current:%Y%m%d}"


@postgresql_only
@pytest.mark.django_db
def test_ensure_creates_missing_partitions_once_and_fills_gaps_up_to_existing_ones():
    created = audit_partitions_ensure(since=utc(2025, 1, 10), through=utc(2025, 3, 2))
    assert created == [
        "audits_auditevent_p20250101",
        "audits_auditevent_p20250201",
        "audits_auditevent_p20250301",
    ]
    assert audit_partitions_ensure(since=utc(2025, 1, 10), through=utc(2025, 3, 2)) == []
    # A shorter interval later: the new partitions stop where an existing one begins.
    with override_settings(AUDIT_PARTITION_INTERVAL="week"):
        created = audit_partitions_ensure(since=utc(2024, 12, 25), through=utc(2025, 1, 2))
    assert created == ["audits_auditevent_p20241223", "audits_auditevent_p20241230"]
    bounds = {p.name: (p.start, p.end) for p in audit_partitions()}
    assert bounds["audits_auditevent_p20241230"] == (utc(2024, 12, 30), utc(2025, 1, 1))
    # A longer one: the months made stay, the next quarter is one partition.
    with override_settings(AUDIT_PARTITION_INTERVAL="quarter"):
        created = audit_partitions_ensure(since=utc(2025, 2, 10), through=utc(2025, 5, 2))
    assert created == ["audits_auditevent_p20250401"]
    bounds = {p.name: (p.start, p.end) for p in audit_partitions()}
    assert bounds["audits_auditevent_p20250401"] == (utc(2025, 4, 1), utc(2025, 7, 1))


@postgresql_only
@pytest.mark.django_db
def test_an_insert_no_partition_covers_lands_in_the_default_and_moves_when_one_is_made():
    far = utc(2031, 5, 17, 12)
    event = record_received(far, "far.future")
    assert partition_of(event) == DEFAULT_PARTITION
    assert audit_default_partition_rows() == 1
    assert audit_partitions_ensure(since=far, through=far) == ["audits_auditevent_p20310501"]
    assert partition_of(event) == "audits_auditevent_p20310501"
    assert audit_default_partition_rows() == 0
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.seq, stored.hash) == (event.seq, event.hash)
    assert audit_chain_verify().ok
    # The moved row is append-only in its new partition too.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")


@postgresql_only
@pytest.mark.django_db
def test_a_partition_attached_by_hand_is_append_only_too():
    event_time = utc(2030, 2, 3)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE audits_auditevent_byhand (LIKE audits_auditevent"
            " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        cursor.execute(
            "ALTER TABLE audits_auditevent ATTACH PARTITION audits_auditevent_byhand"
            " FOR VALUES FROM ('2030-02-01') TO ('2030-03-01')"
        )
    event = record_received(event_time, "by.hand")
    assert partition_of(event) == "audits_auditevent_byhand"
    for statement in (
        "UPDATE audits_auditevent SET action = 'x' WHERE id = %s",
        "UPDATE audits_auditevent_byhand SET action = 'x' WHERE id = %s",
        "DELETE FROM audits_auditevent_byhand WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "by.hand"


@postgresql_only
@pytest.mark.django_db
def test_a_made_partition_refuses_update_delete_and_truncate():
    [name] = audit_partitions_ensure(since=utc(2029, 7, 1), through=utc(2029, 7, 1))
    event = record_received(utc(2029, 7, 4), "july")
    for statement in (
        f"UPDATE {name} SET description = 'x' WHERE id = {event.pk}",
        f"DELETE FROM {name} WHERE id = {event.pk}",
        f"TRUNCATE {name}",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def _old_trail() -> dict[int, list[AuditEvent]]:
    """Three events in each of January, February and March 2024, in that order."""
    audit_partitions_ensure(since=utc(2024, 1, 1), through=utc(2024, 3, 1))
    return {
        month: [record_received(utc(2024, month, day, 10), f"m{month}.event") for day in (3, 9, 20)]
        for month in (1, 2, 3)
    }


@postgresql_only
@pytest.mark.django_db
def test_retention_waits_while_younger_events_come_before_old_ones_in_the_chain():
    # An event received now but linked before the old months: no old partition is a prefix
    # of the chain, and that event is too young to go with one.
    record_received(timezone.now(), "recent.first")
    _old_trail()
    names = {p.name for p in audit_partitions()}
    result = audit_events_expire(days=30)
    assert result.removed == 0
    assert names == {p.name for p in audit_partitions()}
    assert audit_chain_verify().ok


@pytest.fixture
def partitions_restored(transactional_db):
    """
    Committed partitions outlive a transactional test (the flush empties tables, it drops
    none): those the test made are dropped after it, so later tests see the usual set.
    """
    before = {p.name for p in audit_partitions()}
    yield
    with connection.cursor() as cursor:
        for partition in audit_partitions():
            if partition.name not in before:
                cursor.execute(f"DROP TABLE {partition.name}")


@pytest.fixture
def old_partitions(partitions_restored):
    """Partitions for January to March 2024, on an empty trail."""
    if connection.vendor != "postgresql":
        pytest.skip("partitioning is PostgreSQL's")
    # The migrations' own events (received now) would come first in the chain: emptied as
    # the test runner's flush does (a superuser in replica mode).
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            "TRUNCATE audits_auditevent, audits_auditchainhead, audits_auditcheckpoint,"
            " audits_auditeventhourlycount, audits_auditcountwatermark"
        )
        cursor.execute("SET session_replication_role = origin")
    audit_partitions_ensure(since=utc(2024, 1, 1), through=utc(2024, 3, 1))


@pytest.fixture
def old_months(old_partitions) -> dict[int, list[AuditEvent]]:
    """A chain that starts with three old months and goes on today: the retention case."""
    return _old_trail()


def test_retention_drops_whole_partitions_past_the_cutoff(old_months):
    location = Location.objects.create(name="Paris")
    AuditEventLocation.objects.create(auditevent=old_months[1][0], location=location)
    recent = record_received(timezone.now(), "recent.event")
    chain_link_pending()
    audit_counts_roll_up()
    before = {p.name for p in audit_partitions()}

    cutoff_days = (timezone.now() - utc(2024, 2, 15)).days
    result = audit_events_expire(days=cutoff_days)

    after = {p.name for p in audit_partitions()}
    # January ended before the cutoff (mid-February): dropped whole. February is partly
    # expired: kept whole until its end passes the cutoff.
    assert before - after == {"audits_auditevent_p20240101"}
    assert result.removed == 3
    assert not AuditEvent.objects.filter(action="m1.event").exists()
    assert AuditEvent.objects.filter(action="m2.event").count() == 3
    # Its links went with it; the location's own (recent) creation event keeps its link.
    assert not AuditEventLocation.objects.filter(auditevent_id=old_months[1][0].pk).exists()
    assert AuditEventLocation.objects.filter(location=location).exists()
    checkpoint = AuditCheckpoint.objects.get()
    assert checkpoint.seq == old_months[1][-1].seq
    assert checkpoint.hash == old_months[1][-1].hash
    assert checkpoint.removed_count == 3
    expiry = AuditEvent.objects.get(action="audit.expire")
    assert expiry.audited_changes["partition"] == "audits_auditevent_p20240101"
    assert expiry.audited_changes["checkpoint_hash"] == checkpoint.hash
    verified = audit_chain_verify()
    assert verified.ok, verified.message
    assert AuditEvent.objects.filter(pk=recent.pk).exists()
    # The dashboard's counters describe what is left: January's hours are gone.
    audit_counts_roll_up()
    counted = sum(AuditEventHourlyCount.objects.values_list("count", flat=True))
    assert counted == AuditEvent.objects.count()
    assert not AuditEventHourlyCount.objects.filter(hour__lt=utc(2024, 2, 1), count__gt=0)
    assert sum(AuditScopeCount.objects.values_list("count", flat=True)) == counted


def test_retention_takes_events_linked_before_a_partitions_last_one(old_partitions):
    january = [record_received(utc(2024, 1, day, 10), "m1.event") for day in (3, 9, 20)]
    # Received just after January ended but linked before January's last event: removing
    # January alone would leave a hole in the chain's prefix.
    straggler = record_received(utc(2024, 2, 1, 0, 0, 1), "straggler")
    late_january = record_received(utc(2024, 1, 31, 23, 59, 59), "late.january")
    february = record_received(utc(2024, 2, 5), "m2.event")
    assert january[-1].seq < straggler.seq < late_january.seq
    cutoff_days = (timezone.now() - utc(2024, 2, 10)).days
    result = audit_events_expire(days=cutoff_days)
    assert result.removed == 3 + 1 + 1
    assert list(AuditEvent.objects.exclude(action="audit.expire")) == [february]
    assert AuditCheckpoint.objects.get().seq == late_january.seq
    assert audit_chain_verify().ok


def test_retention_keeps_a_partition_whose_chain_range_reaches_past_the_cutoff(old_partitions):
    # An event received after the cutoff but linked inside January's range of seq: January
    # cannot go without it, and it is too young; nothing is removed this run.
    record_received(utc(2024, 1, 3), "m1.event")
    young = record_received(timezone.now() - timedelta(days=1), "young")
    record_received(utc(2024, 1, 31, 12), "late.january")
    result = audit_events_expire(days=30)
    assert result.removed == 0
    assert "audits_auditevent_p20240101" in {p.name for p in audit_partitions()}
    assert AuditEvent.objects.filter(pk=young.pk).exists()
    assert audit_chain_verify().ok


def test_the_retention_function_refuses_a_partition_within_the_floor(old_months):
    current = f"audits_auditevent_p{interval_start(timezone.now(), 'month'):%Y%m%d}"
    with (
        pytest.raises(DatabaseError, match="minimum retention"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT audits_expire_partition(%s)", [current])
    with (
        pytest.raises(DatabaseError, match="not a range partition"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT audits_expire_partition(%s)", [DEFAULT_PARTITION])


def test_the_command_reports_partitions_dropped(old_months, capsys):
    cutoff_days = (timezone.now() - utc(2024, 4, 2)).days
    call_command("audits_expire", "--days", str(cutoff_days))
    assert not {"audits_auditevent_p20240101", "audits_auditevent_p20240201"} & {
        p.name for p in audit_partitions()
    }
    assert AuditEvent.objects.filter(action__startswith="m").count() == 0
    assert AuditEvent.objects.filter(action="audit.expire").count() == 3
    assert audit_chain_verify().ok


@postgresql_only
@pytest.mark.django_db
def test_the_command_lists_partitions_and_moves_strays_with_ensure(capsys):
    stray = record_received(
        interval_next(interval_start(timezone.now(), "month"), "month") + timedelta(days=200),
        "stray",
    )
    call_command("audit_partitions")
    out, err = capsys.readouterr()
    assert f"audits_auditevent_p{interval_start(timezone.now(), 'month'):%Y%m%d}" in out
    assert f"{DEFAULT_PARTITION}  (no range)  1 events" in out
    assert "is the worker running?" in err
    with override_settings(AUDIT_PARTITION_PREMAKE=12):
        call_command("audit_partitions", "--ensure")
    out, err = capsys.readouterr()
    assert "created audits_auditevent_p" in out
    assert f"{DEFAULT_PARTITION}  (no range)  0 events" in out
    assert err == ""
    assert partition_of(stray) != DEFAULT_PARTITION


def _stored_as_of_0018(specs: list[tuple[datetime, str]]) -> list[AuditEvent]:
    """Linked events INSERTed with 0018's columns (today's model has more), the head moved."""
    columns = [
        f.column for f in AuditEvent._meta.concrete_fields if f.column not in ("id", "chain")
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_seq, last_hash FROM audits_auditchainhead WHERE id = 1")
        seq, prev = cursor.fetchone() or (0, GENESIS_HASH)
        events = []
        for when, action in specs:
            event = audit_event_build(action=action, received_at=when, created_at=when)
            seq += 1
            event.seq, event.prev_hash = seq, prev
            prev = event.hash = link_hash(prev, event)
            values = [
                f.get_db_prep_save(getattr(event, f.attname), connection)
                for f in AuditEvent._meta.concrete_fields
                if f.column not in ("id", "chain")
            ]
            cursor.execute(
                f"INSERT INTO audits_auditevent ({', '.join(columns)}) "
                f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING id",
                values,
            )
            event.pk = cursor.fetchone()[0]
            events.append(event)
        cursor.execute(
            "UPDATE audits_auditchainhead SET last_seq = %s, last_hash = %s WHERE id = 1",
            [seq, prev],
        )
    return events


def test_the_migration_moves_a_trail_into_partitions_and_it_still_verifies(partitions_restored):
    if connection.vendor != "postgresql":
        pytest.skip("partitioning is PostgreSQL's")
    from django.db.migrations.executor import MigrationExecutor

    before = [("audits", "0018_hourly_event_counts")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'audits_auditevent'")
        assert cursor.fetchone()[0] == "r"
    # Events of three months, written as the code of 0018's time would: linked, in order,
    # into the table as 0018 has it (no `chain` column yet).
    events = _stored_as_of_0018(
        [(utc(2025, month, 10), f"m{month}") for month in (4, 5, 6)] + [(timezone.now(), "today")]
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert {partition_of(e) for e in events} == {
        "audits_auditevent_p20250401",
        "audits_auditevent_p20250501",
        "audits_auditevent_p20250601",
        f"audits_auditevent_p{interval_start(timezone.now(), 'month'):%Y%m%d}",
    }
    stored = {
        e.pk: (e.seq, e.hash) for e in AuditEvent.objects.filter(pk__in=[e.pk for e in events])
    }
    assert stored == {e.pk: (e.seq, e.hash) for e in events}
    verified = audit_chain_verify()
    assert verified.ok, verified.message
    # New events continue the ids and the chain.
    later = audit_event_record(action="after.migration")
    assert later.pk > max(e.pk for e in events)
    assert audit_chain_verify().ok
