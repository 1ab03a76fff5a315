"""
Keepalives over the RabbitMQ transport, from a test agent publishing what sensu-client 1.9
publishes, consumed as sensu/lib/sensu/server/process.rb setup_keepalives does.
"""

import logging

import pytest

from audits.models import AuditEvent
from monitoring.models import Client, Event
from monitoring.monitors import keepalive_monitor_run
from monitoring.sensu.tests.rabbitmq import Until, queue_depth
from monitoring.sensu.transport import KEEPALIVES_QUEUE, keepalives_consume

pytestmark = pytest.mark.django_db(transaction=True)

NOW = 1_700_000_000


def consume_until(condition) -> None:
    keepalives_consume(Until(condition))


def test_keepalive_creates_the_client_as_update_client_registry(agents, vhost_url):
    # sensu/lib/sensu/client/process.rb keepalive_payload: settings[:client] + version +
    # timestamp; sensu/lib/sensu/server/process.rb update_client_registry adds client:<name>.
    agent = agents(
        name="web-1",
        address="10.0.0.5",
        subscriptions=["webserver", "roundrobin:pool"],
        environment="production",
        keepalive={"thresholds": {"warning": 60, "critical": 90}},
    )
    sent = agent.publish_keepalive(timestamp=NOW)
    consume_until(lambda: Client.objects.filter(name="web-1").exists())
    client = Client.objects.get(name="web-1")
    assert client.address == "10.0.0.5"
    assert client.subscriptions == ["webserver", "roundrobin:pool", "client:web-1"]
    assert client.timestamp == NOW  # As the agent sent it.
    assert client.version == sent["version"] == "1.9.0"
    assert client.keepalives is True  # Agents are watched unless they say keepalives: false.
    assert client.keepalive == {"thresholds": {"warning": 60, "critical": 90}}
    assert client.attributes == {"environment": "production"}
    assert queue_depth(vhost_url, KEEPALIVES_QUEUE) == 0  # Acknowledged.


def test_a_later_keepalive_updates_the_client(agents):
    agent = agents(name="web-1", subscriptions=["webserver"])
    agent.publish_keepalive(timestamp=NOW)
    agent.client["subscriptions"] = ["database"]
    agent.client["keepalives"] = False
    agent.publish_keepalive(timestamp=NOW + 20)
    consume_until(lambda: Client.objects.filter(name="web-1", timestamp=NOW + 20).exists())
    client = Client.objects.get(name="web-1")
    assert client.subscriptions == ["database", "client:web-1"]
    assert client.keepalives is False
    assert Client.objects.count() == 1


def test_keepalive_with_another_signature_is_refused_and_logged(agents, caplog, vhost_url):
    # sensu/lib/sensu/server/process.rb update_client_registry: the first signature is kept
    # (setnx); a keepalive with a different one is discarded with "invalid client signature".
    first = agents(name="db-1", signature="s3cret")
    first.publish_keepalive(timestamp=NOW)
    consume_until(lambda: Client.objects.filter(name="db-1").exists())
    assert Client.objects.get(name="db-1").signature == "s3cret"

    # One channel for all three, so they reach the queue in this order.
    genuine = dict(first.client)
    first.client.update(address="6.6.6.6", signature="forged")
    first.publish_keepalive(timestamp=NOW + 20)
    del first.client["signature"]
    first.publish_keepalive(timestamp=NOW + 30)
    first.client = genuine
    first.publish_keepalive(timestamp=NOW + 40)
    with caplog.at_level(logging.WARNING, logger="monitoring.sensu.transport"):
        consume_until(lambda: Client.objects.filter(name="db-1", timestamp=NOW + 40).exists())
    client = Client.objects.get(name="db-1")
    assert client.address == "127.0.0.1"
    assert client.signature == "s3cret"
    refusals = [r for r in caplog.records if "invalid client signature" in r.getMessage()]
    assert len(refusals) == 2
    assert queue_depth(vhost_url, KEEPALIVES_QUEUE) == 0


def test_the_signature_is_never_shown_nor_audited(agents):
    agent = agents(name="db-1", signature="s3cret")
    agent.publish_keepalive(timestamp=NOW)
    consume_until(lambda: Client.objects.filter(name="db-1").exists())
    client = Client.objects.get(name="db-1")
    assert "signature" not in client.as_sensu()
    audit = AuditEvent.objects.get(target_type="Client", target_name="db-1")
    assert "s3cret" not in str(audit.audited_changes)


def test_a_client_may_start_using_a_signature(agents):
    # update_client_registry: "A client can begin to use a signature if one was not
    # previously configured."
    agent = agents(name="web-2")
    agent.publish_keepalive(timestamp=NOW)
    agent.client["signature"] = "new"
    agent.publish_keepalive(timestamp=NOW + 20)
    consume_until(lambda: Client.objects.filter(name="web-2", timestamp=NOW + 20).exists())
    assert Client.objects.get(name="web-2").signature == "new"


def test_invalid_keepalives_are_dropped_and_acked_without_blocking_the_next(
    agents, caplog, vhost_url
):
    agent = agents(name="web-1")
    agent.publish_raw("keepalives", b"not json")
    agent.publish_raw("keepalives", b'{"name": "bad name!", "address": "x"}')
    agent.publish_raw("keepalives", b'{"name": "no-address"}')
    agent.publish_keepalive(timestamp=NOW)
    with caplog.at_level(logging.ERROR, logger="monitoring.sensu.transport"):
        consume_until(lambda: Client.objects.filter(name="web-1").exists())
    assert list(Client.objects.values_list("name", flat=True)) == ["web-1"]
    assert len([r for r in caplog.records if "invalid keepalive" in r.getMessage()]) == 3
    assert queue_depth(vhost_url, KEEPALIVES_QUEUE) == 0


def test_keepalive_monitor_alerts_once_an_agent_stops_sending(agents):
    # sensu/lib/sensu/server/process.rb determine_stale_clients: thresholds 120/180 s.
    agent = agents(name="web-1")
    agent.publish_keepalive(timestamp=NOW)
    consume_until(lambda: Client.objects.filter(name="web-1").exists())
    keepalive_monitor_run(now=NOW + 30)
    assert not Event.objects.filter(check_name="keepalive").exists()
    keepalive_monitor_run(now=NOW + 200)
    event = Event.objects.get(client__name="web-1", check_name="keepalive")
    assert event.status == 2
    # The agent comes back: its keepalive (timestamp as sent) lets the monitor resolve.
    agent.publish_keepalive(timestamp=NOW + 260)
    consume_until(lambda: Client.objects.filter(name="web-1", timestamp=NOW + 260).exists())
    keepalive_monitor_run(now=NOW + 270)
    assert not Event.objects.filter(check_name="keepalive").exists()


def test_consumers_return_at_once_without_a_transport(settings):
    settings.SENSU_TRANSPORT_URL = ""
    keepalives_consume(Until(lambda: False))  # Returns: nothing to consume.
