"""The audit trail's demo data, as `manage.py bootstrap` loads it on a fresh install."""

import random
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Max, Min
from django.utils import timezone

from audits.chain import audit_chain_verify
from audits.demo import (
    DEMO_HOSTS,
    DEMO_SEED,
    HISTORY_DAYS,
    PASSWORD_GUESSING,
    audit_history,
    load_audit_demo,
)
from audits.models import HOST_TYPE, AuditEvent, AuditSource, Host, Location, Organization
from integration_site.registry import registry
from integration_site.request_context import operation

pytestmark = pytest.mark.django_db


@pytest.fixture
def said() -> list[str]:
    lines: list[str] = []
    with operation():
        load_audit_demo(lines.append)
    return lines


@pytest.fixture
def reader(token_client):
    return token_client("audit:read")


def test_the_audit_demo_is_registered_for_bootstrap():
    assert registry["demo_loaders"]["audit trail"] is load_audit_demo


def test_history_spans_the_last_thirty_days_from_every_source(said):
    now = timezone.now()
    history = AuditEvent.objects.exclude(target_type=HOST_TYPE)
    span = history.aggregate(first=Min("created_at"), last=Max("created_at"))
    assert now - timedelta(days=HISTORY_DAYS) <= span["first"] < now - timedelta(days=29)
    assert now - timedelta(hours=1) < span["last"] <= now  # never dated in the future
    days = {t.date() for t in history.values_list("created_at", flat=True)}
    assert len(days) >= HISTORY_DAYS  # every day of the month has events
    by_source = {s: history.filter(source=s).count() for s in AuditSource.values}
    assert by_source[AuditSource.INTEGRATION] > 2000  # a few thousand, mostly the application's
    assert by_source[AuditSource.INTEGRATION] > 5 * by_source[AuditSource.SITE] > 0
    assert by_source[AuditSource.SYSTEM] > 50
    assert f"audit events over the last {HISTORY_DAYS} days" in said[0]


def test_history_has_the_shape_of_real_use(said):
    now = timezone.now()
    history = AuditEvent.objects.filter(source=AuditSource.INTEGRATION)
    recent = history.filter(created_at__gte=now - timedelta(days=7)).count()
    first_week = history.filter(
        created_at__lt=now - timedelta(days=HISTORY_DAYS - 7),
        created_at__gte=now - timedelta(days=HISTORY_DAYS),
    ).count()
    assert recent > 1.4 * first_week  # the recent days are busier
    hours = [t.hour for t in history.values_list("created_at", flat=True)]
    office = sum(9 <= h < 17 for h in hours)
    night = sum(h < 5 for h in hours)
    assert office > 8 * night  # office hours (UTC), with a night of password guessing in it
    failures = history.filter(is_failure=True)
    assert 0.02 < failures.count() / history.count() < 0.12
    # The night of guessing: one address, one hour, many failed sign-ins to Acme accounts.
    days_ago, _, attempts = PASSWORD_GUESSING
    guesses = failures.filter(remote_address="203.0.113.9", group_id="acme")
    assert guesses.count() >= attempts
    assert {(now - t).days for t in guesses.values_list("created_at", flat=True)} >= {days_ago}
    # A vendor's application: customers, people, documents.
    assert set(history.values_list("group_id", flat=True)) >= {"acme", "globex", "initech"}
    assert history.filter(action="document.update", target_type="document").exists()
    assert history.values("actor_id").distinct().count() >= 10


def test_the_history_is_seeded_so_screenshots_are_stable(django_user_model):
    operator = django_user_model.objects.create_user(username="operator")
    now = timezone.now()

    def fingerprint() -> list:
        days = audit_history(rng=random.Random(DEMO_SEED), now=now, operator=operator)
        return [
            (
                day.posted,
                [(e.action, e.created_at, e.actor_name, e.target_name) for e in day.built],
            )
            for day in days
        ]

    first = fingerprint()
    assert first == fingerprint()
    assert sum(len(posted) + len(built) for posted, built in first) > 2000


def test_hosts_locations_and_organizations_with_their_audits(said):
    hosts = {host.name: host for host in Host.objects.select_related("location")}
    # old-web was retired: destroyed, its audits kept.
    assert set(hosts) == {name for name, *_ in DEMO_HOSTS} - {"old-web.example.com"}
    assert Location.objects.count() == 3 and Organization.objects.count() == 2
    operator = get_user_model().objects.get(username="operator")
    for host in hosts.values():
        audits = AuditEvent.objects.filter(target_type=HOST_TYPE, target_id=str(host.pk))
        assert audits.filter(action="create", actor_name="operator").count() == 1
        assert audits.filter(actor_id=str(operator.pk)).count() == audits.count()
        assert audits.filter(locations=host.location).exists()
    # Moving db-1 from Paris to Frankfurt audits into both, as Foreman's set_taxonomies does.
    db = hosts["db-1.example.com"]
    assert db.location.name == "Frankfurt"
    move = AuditEvent.objects.get(
        target_type=HOST_TYPE,
        target_id=str(db.pk),
        action="update",
        audited_changes__has_key="location_id",
    )
    assert sorted(move.locations.values_list("name", flat=True)) == ["Frankfurt", "Paris"]
    retired = AuditEvent.objects.get(target_type=HOST_TYPE, action="destroy")
    assert retired.target_name == "old-web.example.com"
    assert "5 Foreman hosts" in said[2]


def test_host_audits_api_lists_the_demo_hosts_audits(said, reader):
    db = Host.objects.get(name="db-1.example.com")
    body = reader.get(f"/api/hosts/{db.pk}/audits").json()
    assert [r["action"] for r in body["results"]] == ["update", "update", "create"]
    assert body["results"][0]["auditable_name"] == "db-1.example.com"
    assert body["results"][0]["user_name"] == "operator"
    # A retired host's audits, by the name it had.
    retired = reader.get("/api/hosts/old-web.example.com/audits").json()
    assert [r["action"] for r in retired["results"]] == ["destroy", "create"]


@pytest.mark.parametrize(
    ("params", "expected_hosts"),
    [
        ({"search": "location = Frankfurt"}, {"db-1.example.com", "build-1.example.com"}),
        ({"search": "organization = Research"}, {"build-1.example.com", "gpu-1.example.com"}),
        ({"search": "host = web-2.example.com"}, {"web-2.example.com"}),
    ],
)
def test_audit_api_host_and_taxonomy_filters_find_the_demo_hosts(
    said, reader, params, expected_hosts
):
    body = reader.get("/api/audits", {**params, "per_page": "all"}).json()
    assert body["results"]
    hosts = {r["auditable_name"] for r in body["results"] if r["auditable_type"] == HOST_TYPE}
    assert hosts == expected_hosts


def test_bootstrap_loads_the_demo_once(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password-1")
    call_command("bootstrap", stdout=StringIO())
    counts = (AuditEvent.objects.count(), Host.objects.count(), Location.objects.count())
    assert counts[0] > 3000 and counts[1] == 5
    call_command("bootstrap", stdout=StringIO())
    assert (AuditEvent.objects.count(), Host.objects.count(), Location.objects.count()) == counts


def test_the_demo_chain_verifies(said):
    result = audit_chain_verify()
    assert result.ok, result.message
    assert result.verified == AuditEvent.objects.count()
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue().startswith(f"verified {AuditEvent.objects.count()} events")
