"""
The trail against the site's own database role (PostgreSQL). Each test connects as a real
site role, created in the shared cluster under a unique name, granted by `db_roles_grant`
exactly as production is, and dropped afterwards (roles are cluster-wide).
"""

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from unittest.mock import patch

import psycopg
import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audits.checks import database_role_check
from audits.db_roles import db_roles_grant
from audits.models import AuditChainHead, AuditCheckpoint, AuditEvent
from audits.services import audit_event_record, audit_events_expire
from audits.tests.test_chain import trigger_disabled

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REFUSED = (psycopg.errors.InsufficientPrivilege, psycopg.errors.RaiseException)


@pytest.fixture
def site_role():
    """A LOGIN role with the site's grants on the test database; its name."""
    name = f"test_site_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {name} LOGIN")
    try:
        db_roles_grant(site_role=name)
        yield name
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {name}")
            cursor.execute(f"DROP ROLE {name}")


@pytest.fixture
def as_site(site_role):
    """An autocommit psycopg connection to the test database as the site role."""
    db = connection.settings_dict
    conn = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        dbname=db["NAME"],
        user=site_role,
        autocommit=True,
    )
    yield conn
    conn.close()


def refused(conn, *statements: str, params=None) -> None:
    """Every statement, each on its own, is refused by a privilege or a trigger."""
    for statement in statements:
        with pytest.raises(REFUSED):
            conn.execute(statement, params)


def record(n: int, prefix: str = "e") -> list[AuditEvent]:
    return [audit_event_record(action=f"{prefix}.{i}") for i in range(n)]


def old_and_recent(old: int = 3, recent: int = 2) -> tuple[list, list]:
    then = timezone.now() - timedelta(days=100)
    with trigger_disabled():  # events the migrations recorded belong to the old prefix
        AuditEvent.objects.update(received_at=then)
    with patch("django.utils.timezone.now", return_value=then):
        older = record(old, "old")
    return older, record(recent, "recent")


def test_truncate_is_refused_with_the_old_setting_for_the_site_and_the_owner(as_site):
    record(2)
    refused(
        as_site,
        "SET audits.allow_truncate = 'on'; TRUNCATE audits_auditevent CASCADE",
        "SET audits.allow_truncate = 'on'; TRUNCATE audits_auditcheckpoint",
    )
    # Not even the owner's session opens it with the setting any more.
    for table in ("audits_auditevent", "audits_auditcheckpoint", "audits_auditchainhead"):
        with (
            pytest.raises(DatabaseError, match=r"append-only|only moves forward"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("SET LOCAL audits.allow_truncate = 'on'")
            cursor.execute(f"TRUNCATE {table} CASCADE")
    assert AuditEvent.objects.count() >= 2


def test_delete_is_refused_with_the_old_expire_setting_for_the_site_and_the_owner(as_site):
    events = record(3)
    refused(
        as_site,
        f"SET audits.expire_through_seq = '{events[-1].seq}';"
        f" DELETE FROM audits_auditevent WHERE seq <= {events[-1].seq}",
    )
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL audits.expire_through_seq = %s", [str(events[-1].seq)])
        cursor.execute("DELETE FROM audits_auditevent WHERE seq <= %s", [events[-1].seq])
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in events]).count() == 3


def test_the_site_role_cannot_edit_or_delete_events_or_checkpoints(as_site):
    old_and_recent()
    audit_events_expire(days=30)
    event = AuditEvent.objects.filter(seq__isnull=False).order_by("seq").last()
    refused(
        as_site,
        f"UPDATE audits_auditevent SET action = 'edited' WHERE id = {event.pk}",
        f"UPDATE audits_auditevent SET hash = repeat('0', 64) WHERE id = {event.pk}",
        f"UPDATE audits_auditevent SET seq = NULL, prev_hash = NULL, hash = NULL WHERE id = {event.pk}",
        f"DELETE FROM audits_auditevent WHERE id = {event.pk}",
        "UPDATE audits_auditcheckpoint SET hash = repeat('0', 64)",
        "DELETE FROM audits_auditcheckpoint",
        "INSERT INTO audits_auditcheckpoint (seq, hash, removed_count, created_at)"
        " VALUES (999999, repeat('0', 64), 0, now())",
        "ALTER TABLE audits_auditevent DISABLE TRIGGER USER",
        "SET session_replication_role = replica",
    )
    assert AuditEvent.objects.get(pk=event.pk).hash == event.hash
    assert AuditCheckpoint.objects.count() == 1


def test_the_chain_head_only_moves_forward(as_site):
    record(3)
    head = AuditChainHead.objects.get()
    refused(
        as_site,
        "UPDATE audits_auditchainhead SET last_seq = last_seq - 1",
        "UPDATE audits_auditchainhead SET last_hash = repeat('0', 64)",
        "UPDATE audits_auditchainhead SET last_seq = 0, last_hash = repeat('0', 64)",
        "DELETE FROM audits_auditchainhead",
        "TRUNCATE audits_auditchainhead",
    )
    # The trigger holds for the owner too (privileges aside).
    with (
        pytest.raises(DatabaseError, match="only moves forward"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audits_auditchainhead SET last_seq = 0")
    assert AuditChainHead.objects.get().last_seq == head.last_seq
    # Appending still moves it on.
    record(1)
    assert AuditChainHead.objects.get().last_seq == head.last_seq + 1


def test_retention_through_the_function_works_for_the_site_but_not_below_the_floor(as_site):
    older, recent = old_and_recent()
    through = older[-1].seq
    removed = as_site.execute("SELECT audits_expire_through(1, %s)", [through]).fetchone()[0]
    assert removed == through  # everything up to the last old event
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.seq, checkpoint.hash) == (through, older[-1].hash)
    assert not AuditEvent.objects.filter(seq__lte=through).exists()
    # Events younger than the floor stay, however the site asks.
    refused(
        as_site,
        f"SELECT audits_expire_through(1, {recent[-1].seq})",
        # A floor of its own: the site cannot write the table, nor shadow it with a
        # temporary one (the function's search_path is pinned, pg_temp last).
        "UPDATE audits_retention_floor SET min_days = 0",
        "CREATE TEMP TABLE audits_retention_floor (id int, min_days int);"
        " INSERT INTO audits_retention_floor VALUES (1, 0);"
        f" SELECT audits_expire_through(1, {recent[-1].seq})",
    )
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in recent]).count() == 2


def test_audits_expire_refuses_days_below_the_floor():
    with pytest.raises(ValueError, match="minimum retention of 7 days"):
        audit_events_expire(days=6)


def test_deploy_check_warns_for_a_superuser_connection():
    warnings = database_role_check(None)
    assert [w.id for w in warnings] == ["audits.W001"]
    assert "superuser role" in warnings[0].msg


def test_deploy_check_is_quiet_for_the_site_role(site_role):
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432

    def deploy_check(user: str) -> str:
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{user}@{host}:{port}/{db['NAME']}",
            "DJANGO_SECRET_KEY": "x" * 60,
        }
        done = subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy"],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.stdout + done.stderr

    assert "audits.W001" not in deploy_check(site_role)
    assert "audits.W001" in deploy_check(db["USER"] or "postgres")


def test_the_site_role_reaches_partitions_only_through_the_event_table(as_site):
    """
    No privilege on a partition itself (it could not DELETE or TRUNCATE there anyway: the
    triggers are on every partition), but it makes partitions ahead and drops expired ones
    through the SECURITY DEFINER functions, within the floor.
    """
    event = record(1)[0]
    partition = as_site.execute(
        "SELECT tableoid::regclass::text FROM audits_auditevent WHERE id = %s", [event.pk]
    ).fetchone()[0]
    assert partition.startswith("audits_auditevent_p")
    refused(
        as_site,
        f"SELECT * FROM {partition}",
        f"DELETE FROM {partition}",
        f"TRUNCATE {partition}",
        f"DROP TABLE {partition}",
        f"ALTER TABLE audits_auditevent DETACH PARTITION {partition}",
        # Its own month is within the floor.
        f"SELECT audits_expire_partition('{partition}')",
    )
    created = as_site.execute(
        "SELECT audits_partition_create('2021-03-01', '2021-04-01')"
    ).fetchone()[0]
    assert created == "audits_auditevent_p20210301"
    # Empty and long past the floor: the site may drop it.
    as_site.execute(f"SELECT audits_expire_partition('{created}')")
    assert as_site.execute("SELECT to_regclass(%s)", [created]).fetchone()[0] is None
    assert AuditEvent.objects.filter(pk=event.pk).exists()
