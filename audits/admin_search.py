"""
The scoped-search language in the admin: the audit changelist's search box compiles through
the same field map as /api/audits (plain words are free text), a bad query is shown next to
the box instead of an empty list, and the box completes through auto_complete_search.
Other apps may add controls next to the box (saved searches) through
`registry["search_box_addons"]`, so this module never imports them.
"""

from collections.abc import Callable
from functools import partial

from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from audits.search.errors import QueryError
from audits.search.fields import audit_search
from integration_site.registry import registry

SEARCH_HELP = (
    'Free text, or the Foreman search language: action = update and time > "2 days ago", '
    "user = alice, host ~ web, type = host, fields.plan = gold. Start typing for suggestions."
)


# Callables (request, *, controller, query) -> HTML (or "") shown after the search box.
SearchBoxAddon = Callable[..., str]


def _search_box_addons_render(request: HttpRequest, controller: str, query: str) -> SafeString:
    addons: list[SearchBoxAddon] = list(registry["search_box_addons"])
    rendered = (addon(request, controller=controller, query=query) for addon in addons)
    return format_html_join("", "{}", ((html,) for html in rendered if html))


class ScopedSearchAdminMixin:
    """Replaces ModelAdmin's `search_fields` word matching with the query language."""

    # Any non-empty value shows the search box; the parser decides what a query means.
    search_fields = ["action"]
    search_help_text = SEARCH_HELP
    # Foreman's name for the searched resource: what saved searches record as `controller`.
    search_controller = "audits"

    def get_search_results(self, request, queryset, search_term):
        request.audit_search_error = None
        try:
            return audit_search(queryset, search_term), False
        except QueryError as exc:
            # Rows the query was not about would mislead; the message says what to fix.
            request.audit_search_error = exc.message
            return queryset.none(), False

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        changelist.search_error = getattr(request, "audit_search_error", None)
        # A callable, so the template renders the addons only when it shows the search box
        # (exports build a changelist too).
        changelist.search_box_addons = partial(
            _search_box_addons_render, request, self.search_controller, changelist.query
        )
        return changelist
