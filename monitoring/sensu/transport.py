"""
Sensu 1.x's RabbitMQ transport, as the sensu-transport gem speaks it
(lib/sensu/transport/rabbitmq.rb), through pika. Off unless SENSU_TRANSPORT_URL is set.

- `publish` is the domain's publisher (monitoring.bus): check requests to a subscription's
  exchange, declared exactly as the Ruby amqp gem declares it, so an agent's own declaration
  of the same exchange agrees with ours.
- `keepalives_consume` and `results_consume` are worker threads (registry["worker_threads"]):
  Sensu's `setup_keepalives` and `setup_results` (lib/sensu/server/process.rb). Every worker
  runs them, so several workers on several hosts share the queues as several Sensu servers
  did.
- `transport_info` is /info's `transport` object.
"""

import contextlib
import hashlib
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pika
from django.conf import settings
from django.db import close_old_connections
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.exceptions import AMQPError, ChannelClosedByBroker
from rest_framework.exceptions import APIException

from audits.context import audit_context
from monitoring.bus import TransportUnavailable
from monitoring.engine import result_output_bounded
from monitoring.sensu.validation import (
    KEEPALIVE_RULES,
    RESULT_RULES,
    TRANSPORT_RESULT_RULES,
    json_object,
    rules_check,
)
from monitoring.services import (
    ClientSignatureMismatch,
    TransportResult,
    client_keepalive_record,
    transport_receipts_purge,
    transport_results_process,
)

logger = logging.getLogger(__name__)
# pika logs every connection opened and closed (INFO) and every passive declare of a queue
# not there yet (WARNING): noise. Our own messages say what failed.
logging.getLogger("pika").setLevel(logging.ERROR)

KEEPALIVES_QUEUE = "keepalives"
RESULTS_QUEUE = "results"
# A POST /request publishes in the request: an unreachable broker must fail it fast.
CONNECT_TIMEOUT_SECONDS = 3.0
# /info asks the broker for its queue counts: it must answer even when the broker does not.
INFO_TIMEOUT_SECONDS = 1.0
# A consumer that lost the broker tries again after this pause.
RECONNECT_PAUSE_SECONDS = 2.0
# Keepalives are one small transaction each; this many wait in the worker's buffer.
KEEPALIVES_PREFETCH = 50
# How long the results consumer waits for a first message before checking `stopping`.
IDLE_WAIT_SECONDS = 0.5
RECEIPTS_PURGE_EVERY_SECONDS = 600


def url_redacted(url: str) -> str:
    """The broker URL for logs and messages: its password never leaves the settings."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def connection_open(url: str, *, timeout: float = CONNECT_TIMEOUT_SECONDS) -> BlockingConnection:
    """A connection to the broker, or TransportUnavailable within about `timeout` seconds."""
    try:
        parameters = pika.URLParameters(url)
    except ValueError as exc:
        raise TransportUnavailable(f"SENSU_TRANSPORT_URL is not an AMQP URL: {exc}") from exc
    parameters.connection_attempts = 1
    parameters.socket_timeout = timeout
    parameters.stack_timeout = timeout
    # A broker short of memory or disk blocks publishers: give up rather than hang a request.
    parameters.blocked_connection_timeout = max(timeout, 10.0)
    try:
        return BlockingConnection(parameters)
    except (AMQPError, OSError) as exc:
        raise TransportUnavailable(
            f"The Sensu transport (RabbitMQ at {url_redacted(url)}) cannot be reached: {exc!r}"
        ) from exc


def _close_quietly(connection: BlockingConnection | None) -> None:
    if connection is None or not connection.is_open:
        return
    with contextlib.suppress(AMQPError, OSError):  # Already lost: nothing left to close.
        connection.close()


# --- Publishing ---------------------------------------------------------------------------


def exchange_declare(channel: BlockingChannel, kind: str, name: str) -> None:
    """
    The Ruby amqp gem's `channel.direct(name)` / `channel.fanout(name)` (sensu-transport
    rabbitmq.rb publish): neither durable nor auto-delete. Declared otherwise, RabbitMQ would
    refuse the agents' declarations of the same exchange (PRECONDITION_FAILED).
    """
    channel.exchange_declare(exchange=name, exchange_type=kind, durable=False, auto_delete=False)


class Publisher:
    """
    `publish(kind, name, body, options)` for monitoring.bus. pika's connections are not
    thread-safe, so each thread (a gunicorn thread, the scheduler) keeps its own connection
    and channel. Publisher confirms make a publish return only once the broker holds the
    message: a lost connection (broker restarted) raises, and the publish is tried once more
    on a new connection before TransportUnavailable says why.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.local = threading.local()

    def __call__(self, kind: str, name: str, body: bytes, options: dict[str, Any]) -> None:
        routing_key = options.get("routing_key") or ""
        for attempt in (1, 2):
            try:
                channel, declared = self._channel()
                if (kind, name) not in declared:
                    exchange_declare(channel, kind, name)
                    declared.add((kind, name))
                channel.basic_publish(exchange=name, routing_key=routing_key, body=body)
                return
            except ChannelClosedByBroker as exc:
                self._reset()
                # 404: the exchange was deleted since we declared it; declare it again.
                if exc.reply_code == 404 and attempt == 1:
                    continue
                raise TransportUnavailable(
                    f"RabbitMQ refused the publish to the {kind} exchange {name!r}: "
                    f"{exc.reply_code} {exc.reply_text}"
                ) from exc
            except (AMQPError, OSError) as exc:
                self._reset()
                if attempt == 2:
                    raise TransportUnavailable(
                        f"Publishing to the Sensu transport (RabbitMQ at "
                        f"{url_redacted(self.url)}) failed: {exc!r}"
                    ) from exc

    def _channel(self) -> tuple[BlockingChannel, set[tuple[str, str]]]:
        connection = getattr(self.local, "connection", None)
        if connection is None or not connection.is_open:
            connection = connection_open(self.url)
            channel = connection.channel()
            channel.confirm_delivery()
            self.local.connection, self.local.channel = connection, channel
            self.local.declared = set()
        else:
            try:
                # Answers heartbeats and notices a connection the broker closed meanwhile.
                connection.process_data_events(0)
            except (AMQPError, OSError):
                self._reset()
                return self._channel()
        return self.local.channel, self.local.declared

    def _reset(self) -> None:
        _close_quietly(getattr(self.local, "connection", None))
        self.local.connection = None


# --- Consuming ----------------------------------------------------------------------------


def server_queue_declare(channel: BlockingChannel, name: str) -> None:
    """
    The server's queue `name` bound to the direct exchange of the same name (sensu
    server/process.rb setup_keepalives and setup_results: subscribe(:direct, pipe, funnel)).
    Sensu declared it auto-delete and not durable, so results published while every server
    was down were lost with the queue; here it is durable and stays, so they wait for a
    worker (docs/api-compat.md, "Sensu transport").
    """
    exchange_declare(channel, "direct", name)
    channel.queue_declare(queue=name, durable=True, auto_delete=False)
    channel.queue_bind(queue=name, exchange=name, routing_key="")


def _consume_forever(stopping: threading.Event, consume) -> None:
    """
    Run `consume(connection, stopping)` on a connection of its own until `stopping` is set,
    connecting again after a pause when the broker goes away. Messages not yet acknowledged
    when a connection drops go back to the queue. Database errors are not caught: the worker
    thread restarts the loop, and the unacknowledged batch is delivered again.
    """
    url = settings.SENSU_TRANSPORT_URL
    if not url:
        return  # No transport: nothing to consume.
    warned = False
    while not stopping.is_set():
        connection = None
        try:
            connection = connection_open(url)
            if warned:
                logger.warning("Sensu transport: connected again to %s.", url_redacted(url))
                warned = False
            consume(connection, stopping)
        except (TransportUnavailable, AMQPError, OSError) as exc:
            if not warned:
                logger.warning(
                    "Sensu transport: %s; retrying every %ss.", exc, RECONNECT_PAUSE_SECONDS
                )
                warned = True
            stopping.wait(RECONNECT_PAUSE_SECONDS)
        finally:
            _close_quietly(connection)


def keepalives_consume(stopping: threading.Event) -> None:
    """Sensu's `setup_keepalives`: each keepalive updates the client registry, then is acked."""
    _consume_forever(stopping, _keepalives_consume)


def _keepalives_consume(connection: BlockingConnection, stopping: threading.Event) -> None:
    channel = connection.channel()
    server_queue_declare(channel, KEEPALIVES_QUEUE)
    channel.basic_qos(prefetch_count=KEEPALIVES_PREFETCH)
    for method, _properties, body in channel.consume(
        KEEPALIVES_QUEUE, inactivity_timeout=IDLE_WAIT_SECONDS
    ):
        if stopping.is_set():
            break
        if method is None:
            continue  # Idle: look at `stopping` again.
        keepalive_receive(body)
        channel.basic_ack(method.delivery_tag)


def keepalive_receive(body: bytes) -> None:
    """
    One keepalive message (sensu server/process.rb setup_keepalives, update_client_registry):
    an unreadable or invalid one, or one whose signature differs from the client's, is logged
    and dropped, as Sensu drops it.
    """
    try:
        data = rules_check(_message_object(body), KEEPALIVE_RULES)
    except (APIException, ValueError) as exc:
        logger.error("Sensu transport: dropping an invalid keepalive (%s): %r", exc, body[:200])
        return
    try:
        with audit_context():
            client_keepalive_record(data=data)
    except ClientSignatureMismatch:
        logger.warning("Sensu transport: invalid client signature; not updating %s.", data["name"])
    finally:
        close_old_connections()


def results_consume(stopping: threading.Event) -> None:
    """
    Sensu's `setup_results`, in batches: up to SENSU_TRANSPORT_BATCH_SIZE messages (waiting
    at most SENSU_TRANSPORT_BATCH_MS for a batch to fill) go through the engine in one
    transaction, and are acknowledged together only after it commits. A worker killed before
    the commit leaves the batch to be delivered again; one killed between the commit and the
    ack leaves receipts that recognise the redelivered messages.
    """
    _consume_forever(stopping, _results_consume)


def _results_consume(connection: BlockingConnection, stopping: threading.Event) -> None:
    batch_size = max(1, settings.SENSU_TRANSPORT_BATCH_SIZE)
    fill_wait = settings.SENSU_TRANSPORT_BATCH_MS / 1000
    channel = connection.channel()
    server_queue_declare(channel, RESULTS_QUEUE)
    # Two batches in flight: the next fills the socket while this one is processed.
    channel.basic_qos(prefetch_count=2 * batch_size)
    pending: list[tuple[int, bool, bytes]] = []

    def on_message(_channel, method, _properties, body: bytes) -> None:
        pending.append((method.delivery_tag, bool(method.redelivered), body))

    channel.basic_consume(RESULTS_QUEUE, on_message_callback=on_message)
    first_at = 0.0
    purged_at = 0.0
    while not stopping.is_set():
        if not pending:
            connection.process_data_events(time_limit=IDLE_WAIT_SECONDS)
            first_at = time.monotonic()
        elif len(pending) < batch_size and time.monotonic() < first_at + fill_wait:
            connection.process_data_events(time_limit=first_at + fill_wait - time.monotonic())
        else:
            batch, pending[:] = pending[:batch_size], pending[batch_size:]
            results_receive([(redelivered, body) for _tag, redelivered, body in batch])
            channel.basic_ack(batch[-1][0], multiple=True)
            first_at = time.monotonic()
        if time.monotonic() - purged_at > RECEIPTS_PURGE_EVERY_SECONDS:
            transport_receipts_purge()
            close_old_connections()
            purged_at = time.monotonic()


def results_receive(messages: list[tuple[bool, bytes]]) -> int:
    """
    A batch of result messages, each (redelivered, body): decoded and validated as POST
    /results validates its body (an invalid one is logged and dropped, as Sensu drops a
    message it cannot parse), then processed in one transaction. Returns how many the engine
    processed.
    """
    results = [
        result
        for redelivered, body in messages
        if (result := result_message_decode(body, redelivered=redelivered)) is not None
    ]
    try:
        with audit_context():
            return transport_results_process(results=results)
    finally:
        close_old_connections()


def result_message_decode(body: bytes, *, redelivered: bool) -> TransportResult | None:
    try:
        data = rules_check(_message_object(body), TRANSPORT_RESULT_RULES)
        check = rules_check(data["check"], RESULT_RULES)
    except (APIException, ValueError) as exc:
        logger.error("Sensu transport: dropping an invalid result (%s): %r", exc, body[:200])
        return None
    return TransportResult(
        digest=hashlib.sha256(body).hexdigest(),
        redelivered=redelivered,
        client_name=data["client"],
        check=result_output_bounded(check),
        signature=data.get("signature"),
    )


def _message_object(body: bytes) -> dict[str, Any]:
    # The bound POST /results has (Django's request body limit), for Sensu's max_message_size.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and len(body) > limit:
        raise ValueError(f"the message is larger than {limit} bytes")
    return json_object(body)


# --- /info --------------------------------------------------------------------------------


def transport_info() -> dict[str, Any] | None:
    """
    /info's `transport` (sensu api/utilities/transport_info.rb): connected, and the messages
    and consumers of the `keepalives` and `results` queues, read with a passive declare (a
    queue not declared yet counts 0). None when no transport is configured.
    """
    url = settings.SENSU_TRANSPORT_URL
    if not url:
        return None
    info: dict[str, Any] = {
        "name": "rabbitmq",
        "connected": False,
        "keepalives": {"messages": None, "consumers": None},
        "results": {"messages": None, "consumers": None},
    }
    connection = None
    try:
        connection = connection_open(url, timeout=INFO_TIMEOUT_SECONDS)
        for queue in (KEEPALIVES_QUEUE, RESULTS_QUEUE):
            info[queue] = _queue_stats(connection, queue)
        info["connected"] = True
    except (TransportUnavailable, AMQPError, OSError) as exc:
        logger.warning("Sensu transport: /info could not read the queues: %s", exc)
    finally:
        _close_quietly(connection)
    return info


def _queue_stats(connection: BlockingConnection, queue: str) -> dict[str, int]:
    channel = connection.channel()
    try:
        declared = channel.queue_declare(queue=queue, passive=True)
    except ChannelClosedByBroker as exc:
        if exc.reply_code == 404:
            return {"messages": 0, "consumers": 0}
        raise
    channel.close()
    return {
        "messages": declared.method.message_count,
        "consumers": declared.method.consumer_count,
    }
