"""
Monitoring state made through the engine and services, shared by the domain tests and the
Sensu API tests (monitoring/sensu/tests); each tests/ directory's conftest.py exposes the
fixtures.
"""

import pytest

from monitoring.engine import result_process
from monitoring.models import Client
from monitoring.services import client_register


def make_event(client="i-424242", check="chef_client_process", status=1, **extra):
    if not Client.objects.filter(name=client).exists():
        client_register(
            data={
                "name": client,
                "address": "127.0.0.1",
                "subscriptions": ["webserver", "production"],
                "environment": "production",
            }
        )
    for _ in range(extra.pop("times", 1)):
        result_process(
            client_name=client,
            check={"name": check, "status": status, "output": "WARNING Found 0", **extra},
        )


@pytest.fixture
def busy_client(monkeypatch) -> Client:
    """A client whose every resolved event opens again at once (its check keeps failing)."""
    from monitoring import services

    make_event(client="busy", check="disk", status=2)
    resolve = services.event_resolve

    def resolve_and_reopen(**kwargs):
        issued = resolve(**kwargs)
        result_process(client_name="busy", check={"name": kwargs["check_name"], "status": 2})
        return issued

    monkeypatch.setattr(services, "event_resolve", resolve_and_reopen)
    return Client.objects.get(name="busy")
