"""
Publishing check requests on the RabbitMQ transport (sensu-transport rabbitmq.rb publish),
read by test agents subscribed as sensu/lib/sensu/client/process.rb setup_subscriptions does,
and /info's view of the transport (sensu/lib/sensu/api/utilities/transport_info.rb).
"""

import json
import socket
import subprocess

import pika
import pytest

from monitoring.bus import TransportUnavailable, transport_publish
from monitoring.models import CheckResult
from monitoring.sensu.tests.rabbitmq import Until, rabbitmqctl, wait_until
from monitoring.sensu.transport import Publisher, results_consume, transport_info


@pytest.fixture
def reader(token_client):
    return token_client("monitoring:read")


def request(name="uptime", command="echo up; exit 1"):
    # sensu/lib/sensu/server/process.rb publish_check_request: the definition plus issued.
    return {"name": name, "command": command, "issued": 1_700_000_000}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def vhost_connections(vhost: str) -> list[str]:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "-p", vhost, "name", "--no-table-headers"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def test_a_fanout_request_reaches_every_subscribed_agent(agents, vhost_url):
    # process.rb publish_check_request: a plain subscription is a fanout exchange, and each
    # agent reads it through its own queue (client/process.rb transport_subscribe_options).
    web_1 = agents(name="web-1", subscriptions=["webserver"])
    web_2 = agents(name="web-2", subscriptions=["webserver"])
    other = agents(name="db-1", subscriptions=["database"])
    for agent in (web_1, web_2, other):
        agent.subscribe()
    publish = Publisher(vhost_url)
    publish("fanout", "webserver", json.dumps(request()).encode(), {})
    wait_until(
        lambda: web_1.requests and web_2.requests,
        poll=lambda: [agent.poll() for agent in (web_1, web_2)],
    )
    assert web_1.requests == web_2.requests == [request()]
    other.poll()
    assert other.requests == []
    assert web_1.queues["webserver"] == f"web-1-1.9.0-{web_1.start_time}"


@pytest.mark.django_db(transaction=True)
def test_an_agent_answers_a_request_and_its_result_is_processed(agents, vhost_url):
    agent = agents(name="web-1", subscriptions=["webserver"])
    agent.subscribe()
    Publisher(vhost_url)("fanout", "webserver", json.dumps(request()).encode(), {})
    wait_until(lambda: agent.requests, poll=agent.poll)
    results_consume(Until(lambda: CheckResult.objects.filter(check_name="uptime").exists()))
    result = CheckResult.objects.get(client__name="web-1", check_name="uptime")
    assert result.status == 1
    assert result.output == "up\n"


def test_a_roundrobin_request_reaches_exactly_one_agent(agents, vhost_url):
    # client/process.rb transport_subscribe_options: roundrobin:X is a direct exchange and a
    # queue both named X, shared by the agents, so one of them takes each request.
    first = agents(name="web-1", subscriptions=["roundrobin:pool"])
    second = agents(name="web-2", subscriptions=["roundrobin:pool"])
    for agent in (first, second):
        agent.subscribe()
    publish = Publisher(vhost_url)
    for index in range(4):
        publish("direct", "roundrobin:pool", json.dumps(request(f"c{index}")).encode(), {})
    both = (first, second)
    wait_until(
        lambda: len(first.requests) + len(second.requests) == 4,
        poll=lambda: [agent.poll() for agent in both],
    )
    names = sorted(r["name"] for agent in both for r in agent.requests)
    assert names == ["c0", "c1", "c2", "c3"]  # Each request once, to one agent.
    assert first.queues["roundrobin:pool"] == second.queues["roundrobin:pool"] == "roundrobin:pool"


def test_a_client_subscription_reaches_that_client_only(agents, vhost_url):
    # sensu-settings loader.rb load_client_overrides: every client subscribes client:<name>.
    target = agents(name="web-1", subscriptions=["webserver"])
    bystander = agents(name="web-2", subscriptions=["webserver"])
    for agent in (target, bystander):
        agent.subscribe()
    Publisher(vhost_url)("fanout", "client:web-1", json.dumps(request()).encode(), {})
    wait_until(lambda: target.requests, poll=target.poll)
    bystander.poll()
    assert bystander.requests == []


def test_exchanges_are_declared_with_the_ruby_amqp_gems_flags(vhost_url):
    # A server declaring `webserver` durable would make every agent's declaration fail with
    # PRECONDITION_FAILED; ours agrees with theirs, and a conflicting exchange is reported.
    connection = pika.BlockingConnection(pika.URLParameters(vhost_url))
    channel = connection.channel()
    channel.exchange_declare("durable-one", "fanout", durable=True)
    publish = Publisher(vhost_url)
    publish("fanout", "webserver", b"{}", {})
    channel.exchange_declare("webserver", "fanout", durable=False, auto_delete=False)  # Agrees.
    with pytest.raises(TransportUnavailable, match="PRECONDITION_FAILED"):
        publish("fanout", "durable-one", b"{}", {})
    publish("fanout", "webserver", b"{}", {})  # The publisher recovers from the refusal.
    connection.close()


def test_publish_survives_the_broker_closing_its_connection(agents, vhost_url):
    agent = agents(name="web-1", subscriptions=["webserver"])
    agent.subscribe()
    publish = Publisher(vhost_url)
    publish("fanout", "webserver", json.dumps(request("before")).encode(), {})
    vhost = vhost_url.rsplit("/", 1)[1]
    # As a broker restart does: every connection of the vhost closed under the publisher.
    rabbitmqctl("close_all_connections", "-p", vhost, "test: broker restart")
    wait_until(lambda: not vhost_connections(vhost))
    agent = agents(name="web-1", subscriptions=["webserver"])
    agent.subscribe()
    publish("fanout", "webserver", json.dumps(request("after")).encode(), {})
    wait_until(lambda: agent.requests, poll=agent.poll)
    assert [r["name"] for r in agent.requests] == ["after"]


def test_publish_to_an_unreachable_broker_raises_transport_unavailable():
    publish = Publisher(f"amqp://guest:hunter2@127.0.0.1:{closed_port()}/%2F")
    with pytest.raises(TransportUnavailable, match="cannot be reached") as raised:
        publish("fanout", "webserver", b"{}", {})
    assert "hunter2" not in str(raised.value)  # The password never reaches a message.


def test_the_domain_publishes_through_the_registered_publisher(agents, vhost_url, settings):
    from monitoring import bus

    agent = agents(name="web-1", subscriptions=["webserver"])
    agent.subscribe()
    previous = bus._publisher
    bus.publisher_set(Publisher(vhost_url))
    try:
        transport_publish("fanout", "webserver", json.dumps(request()).encode())
    finally:
        bus.publisher_set(previous)
    wait_until(lambda: agent.requests, poll=agent.poll)


# --- /info --------------------------------------------------------------------------------


def test_transport_info_counts_messages_and_consumers(agents, vhost_url):
    agent = agents(name="web-1")
    for executed in range(3):
        agent.publish_check_result(
            {"name": "disk", "output": "", "status": 0, "executed": executed}
        )
    agent.publish_keepalive()
    consumer = pika.BlockingConnection(pika.URLParameters(vhost_url))
    consumer.channel().basic_consume("keepalives", lambda *args: None)

    def counted():
        info = transport_info()
        return info["results"]["messages"] == 3 and info["keepalives"]["consumers"] == 1

    wait_until(counted, poll=lambda: consumer.process_data_events(0.1))
    info = transport_info()
    consumer.close()
    assert info == {
        "name": "rabbitmq",
        "connected": True,
        "keepalives": {"messages": 0, "consumers": 1},
        "results": {"messages": 3, "consumers": 0},
    }


@pytest.mark.django_db
def test_info_reports_a_connected_rabbitmq(agents, vhost_url, reader):
    agents(name="web-1").publish_keepalive()
    wait_until(lambda: transport_info()["keepalives"]["messages"] == 1)
    info = reader.get("/info").json()["transport"]
    assert info["name"] == "rabbitmq"
    assert info["connected"] is True
    assert info["keepalives"] == {"messages": 1, "consumers": 0}


@pytest.mark.django_db
def test_info_reports_a_broker_it_cannot_reach(settings, reader):
    settings.SENSU_TRANSPORT_URL = f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F"
    info = reader.get("/info").json()["transport"]
    # transport_info.rb's answer when the transport is not connected.
    assert info == {
        "name": "rabbitmq",
        "connected": False,
        "keepalives": {"messages": None, "consumers": None},
        "results": {"messages": None, "consumers": None},
    }


@pytest.mark.django_db
def test_info_without_a_transport_says_so(settings, reader):
    settings.SENSU_TRANSPORT_URL = ""
    info = reader.get("/info").json()["transport"]
    assert info["name"] == "none"
    assert info["connected"] is False
