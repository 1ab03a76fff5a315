"""
The domain's way onto Sensu's transport. Publishing a check request (the scheduler, POST
/request) or an event (a `transport` handler) is a domain act, but the RabbitMQ client is part
of the wire layer (monitoring/sensu/transport.py), which the domain may not import. So the
wire layer registers its publisher here when SENSU_TRANSPORT_URL is set (MonitoringConfig
.ready()), and the domain publishes through `transport_publish`.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings

# (exchange type: "direct" | "fanout" | "topic", exchange name, body, options) -> None
Publisher = Callable[[str, str, bytes, dict[str, Any]], None]

_publisher: Publisher | None = None

NO_TRANSPORT_MESSAGE = (
    "No transport is configured: set SENSU_TRANSPORT_URL (e.g. "
    "amqp://guest:guest@127.0.0.1:5672/%2F) so check requests can reach Sensu agents."
)


class TransportUnavailable(RuntimeError):
    """Publishing is impossible: no transport is configured, or the broker cannot be reached."""


def publisher_set(publisher: Publisher | None) -> None:
    global _publisher
    _publisher = publisher


def transport_configured() -> bool:
    return bool(settings.SENSU_TRANSPORT_URL) and _publisher is not None


def transport_publish(
    kind: str, name: str, body: bytes, options: dict[str, Any] | None = None
) -> None:
    """
    Publish `body` to the exchange `name` of type `kind`, as Sensu's `transport.publish`.
    Raises TransportUnavailable (its message names SENSU_TRANSPORT_URL when unset) rather than
    dropping the message.
    """
    if not settings.SENSU_TRANSPORT_URL or _publisher is None:
        raise TransportUnavailable(NO_TRANSPORT_MESSAGE)
    _publisher(kind, name, body, options or {})
