"""Rendering untrusted event text: control characters become visible escapes (then HTML-escaped)."""

import json

from django import template

from audits.ingest import printable

register = template.Library()

# Long enough for any stored field; printable() truncates at its limit.
_NO_LIMIT = 1_000_000


def visible_text(value) -> str:
    """
    Newlines, ANSI escapes, bidi overrides and other control characters shown as \\n, \\x1b...
    so a value cannot fake extra lines or reorder what the reader sees. Django escapes HTML.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return printable(value, limit=_NO_LIMIT)


@register.filter(name="visible")
def visible(value) -> str:
    return visible_text(value)
