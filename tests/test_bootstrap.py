"""`manage.py bootstrap` across every app: the first admin, then each app's demo data once."""

import pytest
from django.core.management import call_command

from audits.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_bootstrap_is_idempotent(django_user_model, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password-1")
    call_command("bootstrap")
    users, events = django_user_model.objects.count(), AuditEvent.objects.count()
    assert django_user_model.objects.get(username="boss").is_superuser
    assert events > 0
    call_command("bootstrap")
    assert (django_user_model.objects.count(), AuditEvent.objects.count()) == (users, events)
