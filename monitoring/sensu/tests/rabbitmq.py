"""
Fixtures for the transport tests: a real RabbitMQ (127.0.0.1:5672, guest/guest; .ci/run starts
it), a vhost of the test's own, and helpers to drive the consumers until a condition holds.
Skipped cleanly only when no RabbitMQ answers on this machine.
"""

import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pika
import pytest

from monitoring.sensu.tests.agent import SensuAgent
from monitoring.sensu.transport import KEEPALIVES_QUEUE, RESULTS_QUEUE, server_queue_declare

BROKER_HOST, BROKER_PORT = "127.0.0.1", 5672
# Only a bound on a broken test: every wait below ends on a condition, never on time.
CONDITION_DEADLINE_SECONDS = 60


def broker_reachable() -> bool:
    try:
        with socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=2):
            return True
    except OSError:
        return False


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def vhost_url(settings) -> Iterator[str]:
    """A vhost of this test's own, with SENSU_TRANSPORT_URL pointing at it; deleted after."""
    if not broker_reachable():
        pytest.skip(f"RabbitMQ is not reachable at {BROKER_HOST}:{BROKER_PORT}")
    vhost = f"wt_transport_test_{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        url = f"amqp://guest:guest@{BROKER_HOST}:{BROKER_PORT}/{vhost}"
        settings.SENSU_TRANSPORT_URL = url
        yield url
    finally:
        rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def agents(vhost_url) -> Iterator[Callable[..., SensuAgent]]:
    """
    `agents(name=..., subscriptions=...)` starts a test agent; all are closed after. The
    server's queues are declared first, as a running server has them: a message published
    to an exchange with no queue bound is dropped by RabbitMQ.
    """
    server_queues_declare(vhost_url)
    started: list[SensuAgent] = []

    def start(**options) -> SensuAgent:
        agent = SensuAgent(vhost_url, **options)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.close()


def server_queues_declare(url: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for queue in (KEEPALIVES_QUEUE, RESULTS_QUEUE):
            server_queue_declare(channel, queue)
    finally:
        connection.close()


def queue_depth(url: str, queue: str) -> int:
    """Messages ready in `queue` (0 when it does not exist)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        try:
            return channel.queue_declare(queue=queue, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            return 0
    finally:
        connection.close()


class Until(threading.Event):
    """
    A consumer's `stopping` event that is set once `condition()` holds (checked each time the
    consumer looks), so a test drives a consumer loop in its own thread for exactly as long
    as it needs. Past the deadline it stops the loop and the test's assertions then fail.
    """

    def __init__(self, condition: Callable[[], bool]) -> None:
        super().__init__()
        self.condition = condition
        self.deadline = time.monotonic() + CONDITION_DEADLINE_SECONDS

    def is_set(self) -> bool:
        if not super().is_set() and (self.condition() or time.monotonic() > self.deadline):
            self.set()
        return super().is_set()


def wait_until(condition: Callable[[], bool], *, poll: Callable[[], None] | None = None) -> None:
    deadline = time.monotonic() + CONDITION_DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        if poll is not None:
            poll()
        else:
            time.sleep(0.1)
