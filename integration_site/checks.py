"""System checks of the platform's own settings (`manage.py check --deploy`)."""

import ipaddress

from django.conf import settings
from django.core.checks import Tags, Warning, register


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@register(Tags.security, deploy=True)
def trusted_proxy_count_check(app_configs, **kwargs):
    if settings.TRUSTED_PROXY_COUNT <= 0 or _is_loopback(settings.BIND_HOST):
        return []
    where = f"HOST={settings.BIND_HOST}" if settings.BIND_HOST else "HOST is not set"
    return [
        Warning(
            f"TRUSTED_PROXY_COUNT={settings.TRUSTED_PROXY_COUNT} believes X-Forwarded-For from "
            f"any peer, and the site may be reachable directly ({where}): anyone who can reach "
            "the port can choose the client address the audit trail and the lockouts record.",
            hint="Name the proxies in TRUSTED_PROXIES instead, or bind gunicorn to a port only "
            "the proxy can reach and set HOST to that loopback address.",
            id="integration_site.W001",
        )
    ]
