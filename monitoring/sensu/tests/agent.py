"""
A test stand-in for sensu-client 1.9 on the RabbitMQ transport: it publishes exactly what
`sensu/lib/sensu/client/process.rb` publishes, declares what the sensu-transport gem
(`lib/sensu/transport/rabbitmq.rb`) declares, and answers check requests as the client does.
Its declarations use the Ruby amqp gem's flags, so a server declaring the same exchanges
otherwise makes them fail with PRECONDITION_FAILED, as a real agent would.
"""

import contextlib
import json
import subprocess
import time
from typing import Any

import pika

# The version a sensu-client 1.9 puts in its keepalives (lib/sensu/constants.rb VERSION).
SENSU_VERSION = "1.9.0"


class SensuAgent:
    def __init__(
        self,
        url: str,
        *,
        name: str,
        address: str = "127.0.0.1",
        subscriptions: list[str] | None = None,
        signature: str | None = None,
        checks: dict[str, dict[str, Any]] | None = None,
        **attributes: Any,
    ) -> None:
        client: dict[str, Any] = {
            "name": name,
            "address": address,
            "subscriptions": list(subscriptions or []),
            **attributes,
        }
        if signature is not None:
            client["signature"] = signature
        # sensu-settings loader.rb load_client_overrides: every client subscribes to
        # `client:<name>`.
        if f"client:{name}" not in client["subscriptions"]:
            client["subscriptions"].append(f"client:{name}")
        self.client = client
        self.checks = checks or {}
        # client/process.rb transport_subscribe_options: the funnel of a fanout
        # subscription is unique to this process (name, version, start epoch).
        self.start_time = int(time.time())
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.requests: list[dict[str, Any]] = []
        self.queues: dict[str, str] = {}
        self.declared: set[tuple[str, str]] = set()

    def close(self) -> None:
        # The broker may have closed it already (a test closing every connection).
        with contextlib.suppress(pika.exceptions.AMQPError, OSError):
            if self.connection.is_open:
                self.connection.close()

    # --- What it publishes ----------------------------------------------------------------

    def keepalive_payload(self, *, timestamp: int | None = None) -> dict[str, Any]:
        """client/process.rb keepalive_payload: the client definition, version, timestamp."""
        return {
            **self.client,
            "version": SENSU_VERSION,
            "timestamp": int(time.time()) if timestamp is None else timestamp,
        }

    def publish_keepalive(self, *, timestamp: int | None = None) -> dict[str, Any]:
        """client/process.rb publish_keepalive: to the direct exchange `keepalives`."""
        payload = self.keepalive_payload(timestamp=timestamp)
        self._publish("direct", "keepalives", json.dumps(payload).encode())
        return payload

    def publish_check_result(self, check: dict[str, Any]) -> dict[str, Any]:
        """
        client/process.rb publish_check_result: `{client, check}` (an empty `source` removed)
        plus the client's signature, to the direct exchange `results`.
        """
        check = dict(check)
        if check.get("source") == "":
            del check["source"]
        payload: dict[str, Any] = {"client": self.client["name"], "check": check}
        if self.client.get("signature"):
            payload["signature"] = self.client["signature"]
        self._publish("direct", "results", json.dumps(payload).encode())
        return payload

    def publish_raw(self, exchange: str, body: bytes) -> None:
        self._publish("direct", exchange, body)

    def _publish(self, kind: str, exchange: str, body: bytes) -> None:
        # rabbitmq.rb publish: `channel.direct(pipe).publish(message)`, the amqp gem's
        # defaults (durable false, auto_delete false) and an empty routing key. The gem
        # declares an exchange once per channel and keeps the object.
        if (kind, exchange) not in self.declared:
            self.channel.exchange_declare(
                exchange=exchange, exchange_type=kind, durable=False, auto_delete=False
            )
            self.declared.add((kind, exchange))
        self.channel.basic_publish(exchange=exchange, routing_key="", body=body)

    # --- What it consumes -----------------------------------------------------------------

    def subscribe(self) -> None:
        """
        client/process.rb setup_subscriptions and transport_subscribe_options, through
        rabbitmq.rb subscribe: `roundrobin:X` / `direct:X` is a direct exchange and a shared
        queue both named X; any other subscription a fanout exchange and a queue of this
        process's own, `<client>-<version>-<start epoch>`. Queues are auto-delete.
        """
        funnel = f"{self.client['name']}-{SENSU_VERSION}-{self.start_time}"
        for subscription in self.client["subscriptions"]:
            kind = subscription.split(":", 1)[0] if ":" in subscription else ""
            if kind in ("direct", "roundrobin"):
                exchange_type, queue = "direct", subscription
            else:
                exchange_type, queue = "fanout", funnel
            self.channel.queue_declare(queue=queue, auto_delete=True)
            self.channel.exchange_declare(
                exchange=subscription, exchange_type=exchange_type, durable=False, auto_delete=False
            )
            self.channel.queue_bind(queue=queue, exchange=subscription, routing_key="")
            if queue not in self.queues.values():
                self.channel.basic_consume(
                    queue=queue, on_message_callback=self._on_request, auto_ack=True
                )
            self.queues[subscription] = queue

    def poll(self, seconds: float = 0.2) -> None:
        """Take the check requests that arrived, answering each (process_check_request)."""
        self.connection.process_data_events(time_limit=seconds)

    def _on_request(self, _channel, _method, _properties, body: bytes) -> None:
        check = json.loads(body)
        self.requests.append(check)
        self.process_check_request(dict(check))

    def process_check_request(self, check: dict[str, Any]) -> None:
        """
        client/process.rb process_check_request and execute_check_command: a local
        definition merged in, the command run, and the result published with `executed`,
        `duration`, `output` and `status`.
        """
        if check["name"] in self.checks and "proxy_requests" not in check:
            check = {**check, **self.checks[check["name"]]}
        if "command" not in check:
            return  # An extension this agent does not have: Sensu logs and skips it.
        started = time.time()
        check["executed"] = int(started)
        completed = subprocess.run(
            check["command"],
            shell=True,
            capture_output=True,
            text=True,
            timeout=check.get("timeout") or 30,
            check=False,
        )
        check["duration"] = round(time.time() - started, 3)
        check["output"] = completed.stdout + completed.stderr
        check["status"] = completed.returncode
        self.publish_check_result(check)
