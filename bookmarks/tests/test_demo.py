"""The saved searches `manage.py bootstrap` loads on a fresh install."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from audits.models import AuditEvent
from audits.search.fields import audit_search
from audits.services import audit_event_record
from bookmarks.demo import DEMO_BOOKMARKS
from bookmarks.models import Bookmark

pytestmark = pytest.mark.django_db


def test_bootstrap_demo_saved_searches_are_public_and_run(monkeypatch, api_client, make_token):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password-1")
    call_command("bootstrap")
    demo = Bookmark.objects.filter(controller="audits", public=True)
    assert demo.count() == 3
    # Each one is a working search that finds some of the demo events.
    for bookmark in demo:
        assert audit_search(AuditEvent.objects.all(), bookmark.query).exists(), bookmark.query
    _, secret = make_token("audit:read")  # after bootstrap: demo data needs an empty database
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    listed = api_client.get("/api/bookmarks?search=controller=audits").json()
    assert {b["name"] for b in listed["results"]} >= {"Failed logins"}


@pytest.mark.parametrize("hour", [0, 12, 23])
def test_the_recent_failures_bookmark_finds_a_failure_of_an_hour_ago_at_any_time_of_day(hour):
    # Just after midnight, an hour ago is yesterday: a day-granular query ("1 day ago", which
    # scoped_search reads as the whole of yesterday) found nothing then.
    now = datetime(2026, 12, 7, hour, 10, tzinfo=UTC)
    failure = audit_event_record(
        action="login.failure", is_failure=True, created_at=now - timedelta(hours=1)
    )
    audit_event_record(
        action="login.failure", is_failure=True, created_at=now - timedelta(hours=25)
    )
    query = dict(DEMO_BOOKMARKS)["Failures in the last 24 hours"]
    found = audit_search(AuditEvent.objects.all(), query, now=now)
    assert list(found.values_list("pk", flat=True)) == [failure.pk]
