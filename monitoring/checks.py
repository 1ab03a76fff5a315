"""System checks (`manage.py check`) for monitoring's deployment."""

from django.conf import settings
from django.core.checks import Warning, register
from django.db import DatabaseError

from monitoring.scheduler import scheduled_checks


@register()
def check_requests_transport_check(app_configs, **kwargs):
    """
    Checks with subscribers are scheduled by the site, but without a transport no request
    can reach an agent: say so where an operator looks before starting the site.
    """
    if settings.SENSU_TRANSPORT_URL:
        return []
    try:
        first = next(scheduled_checks(), None)
    except DatabaseError:
        return []  # No database yet (before migrate): nothing is scheduled either.
    if first is None:
        return []
    return [
        Warning(
            f"Subscription checks (such as {first['name']!r}) are defined, but "
            "SENSU_TRANSPORT_URL is not set: no check request reaches any agent, and POST "
            "/request answers 503.",
            hint="Set SENSU_TRANSPORT_URL, e.g. amqp://guest:guest@127.0.0.1:5672/%2F.",
            id="monitoring.W001",
        )
    ]
