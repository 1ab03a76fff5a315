"""
Panels on the admin front page. Apps add a callable returning a panel (or None) to
`registry["dashboard_panels"]` from their AppConfig.ready(); the admin index renders them in
registration order.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest

from integration_site.registry import registry


@dataclass
class Panel:
    title: str
    # Rows of (label, value, css class) shown as a small table.
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    # A prominent message, e.g. a startup error reported through the Status API.
    message: str = ""
    severity: str = "info"
    link: str = ""


PanelProvider = Callable[[HttpRequest], Panel | None]


def dashboard_panels(request: HttpRequest) -> list[Panel]:
    panels = []
    providers: list[PanelProvider] = list(registry["dashboard_panels"])
    for provider in providers:
        panel = provider(request)
        if panel is not None:
            panels.append(panel)
    return panels
