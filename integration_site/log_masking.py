"""
Credentials that travel in URL paths (apps register their shapes in the registry's
`secret_path_patterns`) never reach the logs: Django's request log ("Not Found: <path>"),
the middleware's error log and gunicorn's access log print them as `[redacted]`.
"""

import logging

from integration_site.registry import registry

REDACTED = "[redacted]"


def secret_paths_mask(text: str) -> str:
    for pattern in registry["secret_path_patterns"]:
        text = pattern.sub(_redact_secret_group, text)
    return text


def _redact_secret_group(match) -> str:
    start, end = match.span("secret")
    offset = match.start()
    whole = match.group(0)
    return whole[: start - offset] + REDACTED + whole[end - offset :]


class SecretPathFilter(logging.Filter):
    """On a handler: rewrites a record whose message names a registered secret path."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = secret_paths_mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True
