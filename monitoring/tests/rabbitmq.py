"""
A real RabbitMQ publisher and an agent-side consumer for the scheduler's and POST /request's
tests. The site's own client (monitoring/sensu/transport.py) is the wire layer's; these tests
exercise the domain through monitoring.bus with a small publisher of their own that declares
exchanges as the Ruby amqp gem does (not durable, not auto-delete), and consume as a
sensu-client 1.9 does (sensu-transport rabbitmq.rb `subscribe`: an auto-delete queue bound to
the subscription's exchange). Exchanges live in the default vhost under unique names and are
deleted after each test, since several test runs share the broker.
"""

import json
import logging
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import pika
import pytest
from pika.exceptions import AMQPError

from monitoring import bus

RABBITMQ_HOST = "127.0.0.1"
RABBITMQ_PORT = 5672
RABBITMQ_URL = f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/%2F"
# Nothing listens here: a broker that is down.
UNREACHABLE_PORT = 1

# pika logs every connection step at INFO; a failing test's log should show ours.
logging.getLogger("pika").setLevel(logging.WARNING)


def rabbitmq_reachable() -> bool:
    try:
        with socket.create_connection((RABBITMQ_HOST, RABBITMQ_PORT), timeout=1):
            return True
    except OSError:
        return False


def _parameters(port: int) -> pika.ConnectionParameters:
    return pika.ConnectionParameters(
        host=RABBITMQ_HOST,
        port=port,
        credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=1,
        socket_timeout=2,
        blocked_connection_timeout=2,
    )


@dataclass
class RecordingPublisher:
    """Publishes through pika, one connection per message; remembers what it published."""

    port: int = RABBITMQ_PORT
    published: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    exchanges: set[str] = field(default_factory=set)

    def __call__(self, kind: str, name: str, body: bytes, options: dict[str, Any]) -> None:
        try:
            connection = pika.BlockingConnection(_parameters(self.port))
        except AMQPError as exc:
            raise bus.TransportUnavailable(
                f"RabbitMQ at {RABBITMQ_HOST}:{self.port} cannot be reached ({exc!r}); "
                "check SENSU_TRANSPORT_URL."
            ) from exc
        try:
            channel = connection.channel()
            # Confirmed: by the time this returns the broker has routed the message, so the
            # agent's queue holds it (no test waits on timing).
            channel.confirm_delivery()
            channel.exchange_declare(name, exchange_type=kind, durable=False, auto_delete=False)
            channel.basic_publish(name, options.get("routing_key", ""), body)
        finally:
            connection.close()
        self.exchanges.add(name)
        self.published.append((kind, name, json.loads(body)))


class Agent:
    """A sensu-client's side: one queue per subscription, bound to its exchange."""

    def __init__(self) -> None:
        self.connection = pika.BlockingConnection(_parameters(RABBITMQ_PORT))
        self.channel = self.connection.channel()
        self.queues: dict[str, str] = {}
        self.exchanges: set[str] = set()

    def subscribe(self, subscription: str) -> None:
        kind = "direct" if subscription.split(":", 1)[0] in ("direct", "roundrobin") else "fanout"
        self.channel.exchange_declare(
            subscription, exchange_type=kind, durable=False, auto_delete=False
        )
        queue = self.channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        # The amqp gem binds without a key, i.e. "": what a direct exchange's "" key reaches.
        self.channel.queue_bind(queue, subscription, routing_key="")
        self.queues[subscription] = queue
        self.exchanges.add(subscription)

    def received(self, subscription: str) -> list[dict[str, Any]]:
        """Every check request waiting in the subscription's queue, acknowledged."""
        requests = []
        while True:
            method, _, body = self.channel.basic_get(self.queues[subscription], auto_ack=True)
            if method is None:
                return requests
            requests.append(json.loads(body))

    def close(self, extra_exchanges: set[str]) -> None:
        for exchange in self.exchanges | extra_exchanges:
            self.channel.exchange_delete(exchange)
        self.connection.close()


def unique_subscription(prefix: str = "") -> str:
    return f"{prefix}test-scheduler-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def no_publisher():
    """No publisher registered, and none left behind."""
    bus.publisher_set(None)
    yield
    bus.publisher_set(None)


@pytest.fixture
def transport(settings, no_publisher):
    """SENSU_TRANSPORT_URL set and a real publisher registered; skipped without RabbitMQ."""
    if not rabbitmq_reachable():
        pytest.skip(f"RabbitMQ is not reachable at {RABBITMQ_HOST}:{RABBITMQ_PORT}")
    settings.SENSU_TRANSPORT_URL = RABBITMQ_URL
    publisher = RecordingPublisher()
    bus.publisher_set(publisher)
    return publisher


@pytest.fixture
def agent(transport):
    subscriber = Agent()
    yield subscriber
    subscriber.close(transport.exchanges)


@pytest.fixture
def broker_down(settings, no_publisher):
    """A transport configured at a port where no broker listens."""
    settings.SENSU_TRANSPORT_URL = f"amqp://guest:guest@{RABBITMQ_HOST}:{UNREACHABLE_PORT}/%2F"
    publisher = RecordingPublisher(port=UNREACHABLE_PORT)
    bus.publisher_set(publisher)
    return publisher
