"""
Panels on the admin front page. Apps add a callable returning a panel (or None) to
`registry["dashboard_panels"]` from their AppConfig.ready(); the admin index renders them in
registration order.

A panel has a caption, rows of label/value, and optionally charts and a timeline. A chart is
data only: the template emits it with `json_script` and one static script
(`integration_site/dashboard.js`, Chart.js bundled by scripts/build_js.sh) draws every chart;
the same numbers are always rendered as a table too, which screen readers, keyboard users
and a site built without node read.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from integration_site.registry import registry

# The bundle scripts/build_js.sh writes; without node it is absent and the tables stand alone.
CHARTS_SCRIPT = "integration_site/dashboard.js"

# Colours shared by every chart, so a severity or a source looks the same everywhere.
COLOURS = {
    "ok": "#2e7d32",
    "warning": "#b26a00",
    "critical": "#c62828",
    "unknown": "#6a1b9a",
    "integration": "#1565c0",
    "site": "#00838f",
    "system": "#8d6e63",
}


@dataclass
class Series:
    label: str
    values: list[int | float]
    colour: str = "#417690"
    # Per point: the list that point summarises (empty: the chart's link).
    links: list[str] = field(default_factory=list)
    # Per point colours, for a doughnut's slices.
    point_colours: list[str] = field(default_factory=list)


@dataclass
class Chart:
    """
    One chart. `kind` is Chart.js's type ("bar", "line", "doughnut"); `stacked` stacks the
    series (bar and line). `link` is the list the whole chart summarises.
    """

    id: str
    caption: str
    kind: str
    labels: list[str]
    series: list[Series]
    link: str = ""
    link_text: str = ""
    stacked: bool = False

    def data(self) -> dict:
        return asdict(self)

    def table_rows(self) -> list[tuple[str, list[tuple[int | float, str]]]]:
        """(label, [(value, link) per series]) per point, for the table beside the chart."""
        return [
            (
                label,
                [
                    (series.values[i], series.links[i] if i < len(series.links) else "")
                    for series in self.series
                ],
            )
            for i, label in enumerate(self.labels)
        ]

    def table_body(self) -> SafeString:
        """
        The table's rows as HTML, a link on each non-zero value. Built here, not in the
        template: hundreds of cells through the template engine were most of the page's time.
        """
        rows = []
        for label, cells in self.table_rows():
            tds = "".join(
                f'<td><a href="{escape(link)}">{escape(value)}</a></td>'
                if link and value
                else f"<td>{escape(value)}</td>"
                for value, link in cells
            )
            rows.append(f'<tr><th scope="row">{escape(label)}</th>{tds}</tr>')
        # Every label, value and link above is escaped.
        return mark_safe("\n".join(rows))


@dataclass
class TimelineEntry:
    when: str
    title: str
    detail: str = ""
    css: str = ""
    link: str = ""


@dataclass
class Panel:
    title: str
    # Rows of (label, value, css class) shown as a small table.
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    # A prominent message, e.g. a startup error reported through the Status API.
    message: str = ""
    severity: str = "info"
    # The list or page the panel summarises, and the text of its link.
    link: str = ""
    link_text: str = ""
    charts: list[Chart] = field(default_factory=list)
    # A big figure above the rows, e.g. the days left on the license: (text, css class).
    headline: tuple[str, str] | None = None
    timeline_caption: str = ""
    timeline: list[TimelineEntry] = field(default_factory=list)
    # More links below the panel: (text, url).
    links: list[tuple[str, str]] = field(default_factory=list)


PanelProvider = Callable[[HttpRequest], Panel | None]


def dashboard_panels(request: HttpRequest) -> list[Panel]:
    panels = []
    providers: list[PanelProvider] = list(registry["dashboard_panels"])
    for provider in providers:
        panel = provider(request)
        if panel is not None:
            panels.append(panel)
    return panels


def dashboard_charts_script() -> str | None:
    """The charts' script when it is built and collected, else None: the tables stand alone."""
    if not finders.find(CHARTS_SCRIPT):
        return None
    try:
        staticfiles_storage.url(CHARTS_SCRIPT)
    except ValueError:
        # Built after the last collectstatic: the manifest has no entry, and the front page
        # must not fail for a missing picture.
        return None
    return CHARTS_SCRIPT
