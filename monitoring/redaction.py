"""
Sensu's `redact_sensitive`: the values of secret-looking keys replaced, at any depth. The API
shows clients (and /settings) through it, and the audit trail records client attributes
through it (monitoring.models), so it belongs to the domain rather than the wire layer.
"""

from collections.abc import Callable
from typing import Any

# Sensu's redact_sensitive defaults.
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "api_key",
        "api_token",
        "access_key",
        "secret_key",
        "private_key",
        "secret",
    }
)
REDACTED = "REDACTED"


def is_sensitive_key(key: str) -> bool:
    return key in SENSITIVE_KEYS


def redact(
    value: Any, *, marker: str = REDACTED, sensitive: Callable[[str], bool] = is_sensitive_key
) -> Any:
    """Sensu's redact_sensitive: the value of every `sensitive` key replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: marker if sensitive(k) else redact(v, marker=marker, sensitive=sensitive)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, marker=marker, sensitive=sensitive) for v in value]
    return value
