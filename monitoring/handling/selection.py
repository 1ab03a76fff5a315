"""
Which handlers an event reaches: Sensu 1.x's filter.rb `filter_event`, rule by rule, then the
handler's filters in order (`event_filtered?`). The handler list itself comes from the engine's
`handler_names_expand` (process.rb `derive_handlers`), and metric checks reach this point
even when OK (process.rb `update_event_registry`).
"""

from typing import Any

from monitoring.handling.filters import FilterBook, event_filter_reason
from monitoring.models import SEVERITIES, Handler


def _severity(status: Any) -> str:
    """Sensu's `SEVERITIES[status] || "unknown"` (history holds strings: `status.to_i`)."""
    try:
        index = int(status)
    except (TypeError, ValueError):
        index = 0  # Ruby's "x".to_i is 0.
    return SEVERITIES[index] if 0 <= index < len(SEVERITIES) else "unknown"


def handling_disabled(event: dict[str, Any]) -> bool:
    """filter.rb `handling_disabled?`: `check.handle == false`."""
    return (event.get("check") or {}).get("handle") is False


def alert_disabled(event: dict[str, Any]) -> bool:
    """sensu-plugin's `filter_disabled`: `check.alert == false` turns the handler away."""
    return (event.get("check") or {}).get("alert") is False


def handle_action(handler: Handler, event: dict[str, Any]) -> bool:
    """filter.rb `handle_action?`: flapping events only for `handle_flapping` handlers."""
    return event.get("action") != "flapping" or bool(handler.handle_flapping)


def handle_severity(handler: Handler, event: dict[str, Any]) -> bool:
    """
    filter.rb `handle_severity?`: a handler with `severities` takes the check's severity; a
    resolve passes when any history status maps to one of them. An empty list is how a
    definition without `severities` is stored, so it means every severity.
    """
    severities = handler.severities or []
    if not severities:
        return True
    check = event.get("check") or {}
    if event.get("action") == "resolve":
        return any(_severity(status) in severities for status in check.get("history") or [])
    return _severity(check.get("status", 0)) in severities


def handler_silenced(handler: Handler, event: dict[str, Any]) -> bool:
    """filter.rb `handler_silenced?`: silenced events only for `handle_silenced` handlers."""
    return bool(event.get("silenced")) and not handler.handle_silenced


def handler_filter_reason(
    handler: Handler, event: dict[str, Any], filters: FilterBook, now=None
) -> str:
    """
    filter.rb `filter_event`: "" when `handler` handles `event`, else the reason it does not
    (Sensu's log message), checked in Sensu's order; then the handler's filters in order, the
    first that filters naming itself.
    """
    if handling_disabled(event):
        return "event handling disabled for event"
    if alert_disabled(event):
        return "alerts disabled for check (check.alert is false)"
    if not handle_action(handler, event):
        return "handler does not handle action"
    if not handle_severity(handler, event):
        return "handler does not handle event severity"
    if handler_silenced(handler, event):
        return "handler is silenced"
    for name in handler_filter_names(handler):
        reason = event_filter_reason(name, event, filters, now)
        if reason:
            return reason
    return ""


def handler_filter_names(handler: Handler) -> list[str]:
    """The handler's `filters` (Sensu also read a single `filter`, kept in attributes)."""
    names = handler.filters or (handler.attributes or {}).get("filter") or []
    names = names if isinstance(names, list) else [names]
    return [name for name in names if isinstance(name, str)]
