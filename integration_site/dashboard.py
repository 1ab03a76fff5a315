"""
Panels on the admin front page. Apps register a callable returning a panel (or None) from
their AppConfig.ready(); the admin index renders them in registration order.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest


@dataclass
class Panel:
    title: str
    # Rows of (label, value, css class) shown as a small table.
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    # A prominent message, e.g. a startup error reported through the Status API.
    message: str = ""
    severity: str = "info"
    link: str = ""


_providers: list[Callable[[HttpRequest], Panel | None]] = []


def register_panel(provider: Callable[[HttpRequest], Panel | None]) -> None:
    if provider not in _providers:
        _providers.append(provider)


def dashboard_panels(request: HttpRequest) -> list[Panel]:
    panels = []
    for provider in _providers:
        panel = provider(request)
        if panel is not None:
            panels.append(panel)
    return panels
