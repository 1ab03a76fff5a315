"""The saved searches `manage.py bootstrap` loads on a fresh install."""

import pytest
from django.core.management import call_command

from audits.models import AuditEvent
from audits.search.fields import audit_search
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
