"""
The controllers a bookmark may name: Foreman's resource names for the searches this site
serves, each with the search its query must parse in. Foreman accepts any table name; a
bookmark here must point at a search that exists, so its query can be checked on save.
"""

from django.db.models import Q

from audits.foreman.hosts import HOST_SEARCH_SCHEMA
from audits.foreman.taxonomies import TAXONOMY_SEARCH_SCHEMA
from audits.search.compiler import parse
from audits.search.fields import audit_search_q
from audits.search.schema import FieldKind, SearchField, SearchSchema

CONTROLLERS = ("audits", "bookmarks", "hosts", "locations", "organizations")

BOOKMARK_SEARCH_SCHEMA = SearchSchema(
    [
        # Foreman's bookmark search is name and controller (both free text); ours adds the rest.
        SearchField("name", "name", FieldKind.STRING, default=True),
        SearchField("controller", "controller", FieldKind.STRING, default=True),
        SearchField("query", "query", FieldKind.TEXT),
        SearchField("public", "public", FieldKind.BOOLEAN),
        SearchField("id", "id", FieldKind.INTEGER),
    ]
)


def controller_search_q(controller: str, query: str) -> Q:
    """The `Q` of `query` in `controller`'s search; raises QueryError naming the problem.
    The one parser, with the field map that controller's `search=` parameter uses."""
    if controller == "audits":
        return audit_search_q(query)
    if controller == "bookmarks":
        return parse(query, BOOKMARK_SEARCH_SCHEMA)
    if controller == "hosts":
        return parse(query, HOST_SEARCH_SCHEMA)
    if controller in ("locations", "organizations"):
        return parse(query, TAXONOMY_SEARCH_SCHEMA)
    raise ValueError(f"unknown controller {controller!r}")
