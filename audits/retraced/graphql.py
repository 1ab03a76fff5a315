"""
Retraced's GraphQL API (retraced `src/handlers/graphql/`): the schema in schema.graphql, the
`search` resolver over the audit trail, and `graphql_execute`, which the publisher, viewer and
enterprise routes call with the scope their credentials allow.

- `search(query, first, after, last, before)`: `first` pages oldest to newest from `after`,
  `last` newest to oldest from `before` (retraced-js pages back with `last` + `before` while
  `hasPreviousPage`). Default 20 events, at most RETRACED_GRAPHQL_MAX_PAGE_SIZE.
- A cursor is base64 of `"<canonical_time in ms>,<row id>"` (Retraced's shape; the row id is
  our primary key, and a time with sub-millisecond digits keeps them as a fraction, so paging
  is exact).
- Retraced's DoS guard is kept (each field selected once per document: no duplicate fields, no
  aliases of one field), with bounds on document size and depth besides.
- Any error answers HTTP 400 with `errors` (and `data` once execution started), as Retraced.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, DateTimeField, F, Func, Max, Q, QuerySet
from django.utils import timezone
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLResolveInfo,
    ValidationRule,
    build_schema,
    execute_sync,
    parse,
    specified_rules,
    validate,
)
from graphql.language import DocumentNode, FieldNode, SelectionSetNode

from audits.counters import audit_scope_count
from audits.models import AuditEvent, Crud
from audits.retraced.search import (
    RetracedQuery,
    SearchScope,
    retraced_counted_cruds,
    retraced_events_search,
    retraced_query_parse,
)
from audits.search.dates import parse_temporal
from audits.search.errors import QueryError

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT_CHARS",
    "SearchScope",
    "event_node",
    "graphql_execute",
]

SCHEMA = build_schema((Path(__file__).with_name("schema.graphql")).read_text())
DEFAULT_PAGE_SIZE = 20
# searchPaginated's OFFSET reads every skipped row: 500 pages of 20 is as deep as a person
# pages; a client walking everything pages with `search` and cursors instead.
MAX_PAGE_OFFSET = 10_000
MAX_DOCUMENT_CHARS = 20_000  # logs-viewer's query is about 1 KB
MAX_TOKENS = 2_000
# Selection sets nested in one operation or fragment; the schema's deepest path
# (search.edges.node.actor.fields.key) needs 6.
MAX_DEPTH = 8
# Handlebars' `{{x}}` escapes these; Retraced renders display.markdown through it.
HANDLEBARS_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&#x27;",
        "`": "&#x60;",
        "=": "&#x3D;",
    }
)


class SearchError(GraphQLError):
    """A client mistake in `search`'s arguments: reported in `errors`, never raised on."""


# --- Validation --------------------------------------------------------------------------


class NoDuplicateFields(ValidationRule):
    """
    Retraced's NoDuplicateFields (DoS fix #1139): a field of a type may be selected once in
    the whole document, so neither repeating a field nor aliasing it multiplies the work.
    Field's `key`/`value` count per enclosing field (`Event.fields`, `Actor.fields`,
    `Event.metadata` ...), as Retraced's rule does.
    """

    def __init__(self, context):
        super().__init__(context)
        self.seen: set[str] = set()
        self.path: list[str] = []

    def enter_field(self, node: FieldNode, *_args):
        parent = self.context.get_parent_type()
        definition = self.context.get_field_def()
        name = node.name.value
        key = f"{parent}.{name}" if parent is not None else name
        if parent is not None and parent.name == "Field" and self.path:
            key = f"{self.path[-1]}:{key}"
        if definition is not None and key in self.seen:
            self.report_error(GraphQLError(f"Duplicate field {key}.", node))
        self.seen.add(key)
        self.path.append(key)

    def leave_field(self, *_args):
        self.path.pop()

    def enter_fragment_definition(self, *_args):
        self.path = []


class MaxDepth(ValidationRule):
    """Selection sets nest at most MAX_DEPTH deep in any operation or fragment."""

    def enter_selection_set(self, node: SelectionSetNode, _key, _parent, _path, ancestors):
        depth = 1 + sum(isinstance(ancestor, SelectionSetNode) for ancestor in ancestors)
        if depth > MAX_DEPTH:
            self.report_error(
                GraphQLError(f"The query nests deeper than {MAX_DEPTH} selection sets.", node)
            )
            return self.BREAK
        return None


VALIDATION_RULES = (*specified_rules, NoDuplicateFields, MaxDepth)


# --- Execution ---------------------------------------------------------------------------


def graphql_execute(
    *, query: str, variables: dict | None, operation_name: str | None, scope: SearchScope
) -> tuple[dict, int]:
    """Run a GraphQL request in `scope`: (response body, HTTP status: 200, or 400 on errors)."""
    if not isinstance(query, str) or not query.strip():
        return _errors("Must provide a query string (`query`).")
    if len(query) > MAX_DOCUMENT_CHARS:
        return _errors(f"The query document is longer than {MAX_DOCUMENT_CHARS} characters.")
    if variables is not None and not isinstance(variables, dict):
        return _errors("`variables` must be a JSON object.")
    if operation_name is not None and not isinstance(operation_name, str):
        return _errors("`operationName` must be a string.")
    document, errors = _document(query)
    if errors:
        return {"errors": errors}, 400
    result = execute_sync(
        SCHEMA,
        document,
        context_value=scope,
        variable_values=variables,
        operation_name=operation_name,
    )
    return _result_body(result)


@lru_cache(maxsize=64)
def _document(query: str) -> tuple[DocumentNode | None, list[dict]]:
    """The parsed and validated document, or its errors. Cached: clients send the same few
    documents again and again (retraced-js's and the logs viewer's, with new variables), and
    validating one costs about as much as executing it."""
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError as error:
        return None, [error.formatted]
    errors = validate(SCHEMA, document, VALIDATION_RULES)
    return document, [error.formatted for error in errors]


def _errors(message: str) -> tuple[dict, int]:
    return {"errors": [{"message": message}]}, 400


def _result_body(result: ExecutionResult) -> tuple[dict, int]:
    if not result.errors:
        return {"data": result.data}, 200
    for error in result.errors:
        original = error.original_error
        # A client's mistake is an `errors` entry; anything else (the database timing out, a
        # bug) propagates, so the platform answers it as it answers every other route.
        if original is not None and not isinstance(original, GraphQLError | QueryError):
            raise original
    return {"data": result.data, "errors": [error.formatted for error in result.errors]}, 400


# --- search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    size: int
    newest_first: bool
    cursor: tuple[datetime, int] | None
    inclusive: bool = False  # searchPaginated's start cursor is its first row
    # `search`: the first page's totalCount, carried by the `before` cursors we issued.
    pinned_total: int | None = None


def search(_root, info: GraphQLResolveInfo, **args) -> dict:
    """Query.search: one page of the scope's events that `query` selects."""
    scope: SearchScope = info.context
    page = page_from_args(args)
    query = _query(args)
    events = retraced_events_search(scope, query)
    total = None
    if _selects(info, "totalCount"):
        total = page.pinned_total if page.pinned_total is not None else _total(scope, query, events)
    window = page_window(events, page, sort_matches=query.names_received)
    ids = list(window.values_list("id", flat=True)[: page.size + 1])
    more = len(ids) > page.size
    rows = _rows(ids[: page.size])
    return {
        "totalCount": total,
        "pageInfo": {
            "hasNextPage": more and not page.newest_first,
            "hasPreviousPage": more and page.newest_first,
        },
        "edges": [
            {"cursor": cursor_encode(event, count=total), "node": event_node(event)}
            for event in rows
        ],
    }


def search_paginated(_root, info: GraphQLResolveInfo, **args) -> dict:
    """
    Query.searchPaginated (Retraced 2024, the viewer's paginated table): `pageLimit` events
    from `pageOffset`, newest first unless `sortOrder: asc`. Its cursors carry the count, and
    a `startCursor` (the first page's first cursor) pins both the start and `totalCount`, so
    events arriving meanwhile do not shift the pages.
    """
    scope: SearchScope = info.context
    offset, limit = args.get("pageOffset") or 0, args.get("pageLimit") or DEFAULT_PAGE_SIZE
    if not 0 <= offset <= MAX_PAGE_OFFSET:
        raise SearchError(f"Argument 'pageOffset' must be between 0 and {MAX_PAGE_OFFSET}.")
    maximum = settings.RETRACED_GRAPHQL_MAX_PAGE_SIZE
    if not 1 <= limit <= maximum:
        raise SearchError(f"Argument 'pageLimit' must be between 1 and {maximum} (got {limit}).")
    newest_first = (args.get("sortOrder") or "desc") == "desc"
    query = _query(args)
    events = retraced_events_search(scope, query)
    start = args.get("startCursor")
    if start:
        at, pk, total = cursor_decode(start)
        if total is None:
            raise SearchError("Invalid cursor")
        page = Page(limit, newest_first, (at, pk), inclusive=True)
    else:
        total, page = _total(scope, query, events), Page(limit, newest_first, None)
    window = page_window(events, page, sort_matches=query.names_received)
    ids = list(window.values_list("id", flat=True)[offset : offset + limit])
    # Retraced's rule: never more edges than the pinned count leaves.
    rows = _rows(ids[: max(0, total - offset)])
    return {
        "totalCount": total,
        "edges": [
            {"cursor": cursor_encode(event, count=total), "node": event_node(event)}
            for event in rows
        ],
    }


def _total(scope: SearchScope, query: RetracedQuery, events: QuerySet[AuditEvent]) -> int:
    """totalCount: exact. A scope's events by crud alone (the logs viewer's opening page) are
    summed from the scope counters; any other query counts its matches."""
    cruds = retraced_counted_cruds(scope, query)
    if cruds is None:
        return events.count()
    return audit_scope_count(
        project=scope.project,
        environment=scope.environment,
        group_id=scope.group_id,
        cruds=cruds,
    )


COUNTED = {"action": "action", "group": "group_id"}


def counts(_root, info: GraphQLResolveInfo, **args) -> dict:
    """
    Query.counts: events per action or per group in a time range (canonical time, both ends
    included), most first, `first` at a time from `after`. Retraced answers it from
    Elasticsearch only; here it is one GROUP BY over the scope (and one COUNT of the distinct
    values), its pages bounded like searchPaginated's.
    """
    scope: SearchScope = info.context
    kind = args.get("type")
    if kind not in COUNTED:
        raise SearchError("Invalid type")
    column = COUNTED[kind]
    begin = _count_position(args["after"]) + 1 if args.get("after") else 0
    size = DEFAULT_PAGE_SIZE if args.get("first") is None else args["first"]
    maximum = settings.RETRACED_GRAPHQL_MAX_PAGE_SIZE
    if not 0 <= size <= maximum:
        raise SearchError(f"Argument 'first' must be between 0 and {maximum}.")
    if begin > MAX_PAGE_OFFSET:
        raise SearchError(f"Counts are paged up to position {MAX_PAGE_OFFSET}.")
    crud = args.get("crud")
    letters = list(crud.strip().lower()) if isinstance(crud, str) else list(Crud.values)
    if not set(letters) <= set(Crud.values):
        raise SearchError("Invalid crud: use the letters c, r, u and d.")
    # The crud argument says which reads to show, so the viewer's default does not apply.
    events = retraced_events_search(replace(scope, hide_reads=False), RetracedQuery())
    events = events.filter(
        crud__in=letters,
        created_at__range=(_count_time(args, "startTime"), _count_time(args, "endTime")),
    )
    if kind == "group":
        events = events.exclude(group_id="")  # an event of no group is counted in none
    names = {"name": Max("group_name")} if kind == "group" else {}
    buckets = events.values(column).annotate(count=Count("id"), **names)
    # One pass: every bucket up to a bound (actions and groups number tens to thousands),
    # sliced here; only past the bound a second query counts the distinct values.
    bound = MAX_PAGE_OFFSET + maximum
    ranked = list(buckets.order_by("-count", column)[: bound + 1])
    total = len(ranked)
    if total > bound:
        total = events.values(column).distinct().count()
    page = ranked[begin : begin + size]
    return {
        "totalCount": total,
        "pageInfo": {"hasNextPage": begin + size < total, "hasPreviousPage": False},
        "edges": [
            {
                "node": {"action": bucket["action"]}
                if kind == "action"
                else {"id": bucket["group_id"], "name": bucket["name"] or None},
                "count": bucket["count"],
                "cursor": base64.b64encode(str(begin + index).encode()).decode(),
            }
            for index, bucket in enumerate(page)
        ],
    }


def _count_position(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode("ascii"), validate=True).decode("ascii")
    except (UnicodeError, binascii.Error):
        raise SearchError("Invalid cursor") from None
    if not text.isdigit() or len(text) > 9:
        raise SearchError("Invalid cursor")
    return int(text)


def _count_time(args: dict, name: str) -> datetime:
    value = args.get(name)
    if not value:
        return EPOCH if name == "startTime" else timezone.now()
    span = parse_temporal(value)
    if span is None:
        raise SearchError(f"Invalid {name}")
    return span.start


SCHEMA.query_type.fields["search"].resolve = search
SCHEMA.query_type.fields["searchPaginated"].resolve = search_paginated
SCHEMA.query_type.fields["counts"].resolve = counts
SCHEMA.get_type("ActionOrGroup").resolve_type = lambda value, *_: (
    "Action" if "action" in value else "Group"
)


def _query(args: dict) -> RetracedQuery:
    try:
        return retraced_query_parse(args.get("query") or "")
    except QueryError as error:
        raise SearchError(error.message) from error


def _rows(ids: list[int]) -> list[AuditEvent]:
    """
    The page's rows, fetched by id after the ids were found: the search itself reads only
    (time, id) pairs, which the indexes hold (an index-only scan, even when a wide match is
    sorted), and only the page's rows are read whole.
    """
    by_id = AuditEvent.objects.in_bulk(ids)
    return [by_id[pk] for pk in ids]


def page_from_args(args: dict) -> Page:
    first, last = args.get("first"), args.get("last")
    # Retraced tests these as JavaScript truthiness: 0 and "" mean "not given" (retraced-js's
    # first page sends `before: ""`).
    if first and last:
        raise SearchError("Arguments 'first' and 'last' are exclusive")
    if args.get("before") and args.get("after"):
        raise SearchError("Arguments 'before' and 'after' are exclusive")
    size = last or first or DEFAULT_PAGE_SIZE
    limit = settings.RETRACED_GRAPHQL_MAX_PAGE_SIZE
    if not 1 <= size <= limit:
        name = "last" if last else "first"
        raise SearchError(f"Argument '{name}' must be between 1 and {limit} (got {size}).")
    cursor = args.get("before") or args.get("after")
    if not cursor:
        return Page(size, bool(last), None)
    at, pk, total = cursor_decode(cursor)
    # Paging back from the newest (`before`, retraced-js and the logs viewer) keeps the first
    # page's count: the walk's pages stay what the client computed from it (retraced-js's
    # EventsConnection pages by totalCount and would fetch its last page forever if the count
    # grew), and a count that took seconds is not run again for every page. Paging forward
    # (`after`) is how a client follows new events, so its count is counted again.
    return Page(size, bool(last), (at, pk), pinned_total=total if args.get("before") else None)


class SortedAfterFiltering(Func):
    """
    `created_at + interval '0 seconds'` on PostgreSQL: the same order, but no index provides
    it, so the planner must find the matches first and sort them. For a `received:` range it
    otherwise walks the (created_at, id) index from the newest event, filtering, expecting the
    range's rows to be spread evenly; they sit together (received follows created), so a range
    200 days back read 430,000 rows for a page of 20 (docs/benchmarks.md).
    """

    template = "(%(expressions)s + interval '0 seconds')"
    output_field = DateTimeField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return compiler.compile(self.source_expressions[0])


def page_window(
    events: QuerySet[AuditEvent], page: Page, *, sort_matches: bool = False
) -> QuerySet[AuditEvent]:
    """The events from the cursor on in the page's order: canonical time, then id.
    `sort_matches` sorts the matches rather than walking the time index (see
    SortedAfterFiltering): for a filter the time index cannot narrow."""
    time = SortedAfterFiltering("created_at") if sort_matches else F("created_at")
    if page.newest_first:
        events = events.order_by(time.desc(), F("id").desc())
    else:
        events = events.order_by(time.asc(), F("id").asc())
    if page.cursor is None:
        return events
    at, pk = page.cursor
    after = {"id__lte" if page.inclusive else "id__lt": pk}
    if page.newest_first:
        return events.filter(Q(created_at__lt=at) | Q(created_at=at, **after))
    after = {"id__gte" if page.inclusive else "id__gt": pk}
    return events.filter(Q(created_at__gt=at) | Q(created_at=at, **after))


def _selects(info: GraphQLResolveInfo, name: str) -> bool:
    """Whether the query asked for `name` in this field's selection (counting is a query)."""
    for field_node in info.field_nodes:
        for selection in field_node.selection_set.selections if field_node.selection_set else ():
            if isinstance(selection, FieldNode) and selection.name.value == name:
                return True
            if not isinstance(selection, FieldNode):
                return True  # a fragment: assume it does rather than walk it
    return False


# --- Cursors -----------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"(-?[0-9]{1,15})(?:\.([0-9]{1,3}))?,([0-9]{1,19})(?:,([0-9]{1,19}))?")
MAX_ROW_ID = 2**63 - 1  # the id column is a signed 64-bit integer
MAX_COUNT = 2**31 - 1  # totalCount is a GraphQL Int


def cursor_encode(event: AuditEvent, *, count: int | None = None) -> str:
    """`<ms>,<id>`, or `<ms>,<id>,<count>` with the count it pins, in base64."""
    micros = (event.created_at - EPOCH) // timedelta(microseconds=1)
    millis, fraction = divmod(micros, 1000)
    time = f"{millis}.{fraction:03d}" if fraction else str(millis)
    text = f"{time},{event.pk}" if count is None else f"{time},{event.pk},{count}"
    return base64.b64encode(text.encode()).decode()


def cursor_decode(cursor: str) -> tuple[datetime, int, int | None]:
    """(time, id, the count it pins or None) of a cursor `cursor_encode` made."""
    try:
        text = base64.b64decode(cursor.encode("ascii"), validate=True).decode("ascii")
    except (UnicodeError, binascii.Error):
        raise SearchError("Invalid cursor") from None
    match = CURSOR.fullmatch(text)
    if match is None:
        raise SearchError("Invalid cursor")
    millis, fraction, pk, count = match.groups()
    if int(pk) > MAX_ROW_ID or (count is not None and int(count) > MAX_COUNT):
        raise SearchError("Invalid cursor")
    micros = int((fraction or "0").ljust(3, "0"))
    try:
        at = EPOCH + timedelta(milliseconds=int(millis), microseconds=micros)
    except OverflowError:
        raise SearchError("Invalid cursor") from None
    return at, int(pk), None if count is None else int(count)


# --- Event nodes -------------------------------------------------------------------------


def event_node(event: AuditEvent) -> dict[str, Any]:
    """An event as Retraced's GraphQL `Event` returns it (the CSV export reuses it)."""
    actor = {
        "id": event.actor_id or None,
        "name": event.actor_name or None,
        "href": event.actor_href or None,
        "fields": _key_values(event.actor_fields),
    }
    has_target = event.target_id or event.target_name or event.target_type
    target = (
        {
            "id": event.target_id or None,
            "name": event.target_name or None,
            "href": event.target_href or None,
            "type": event.target_type or None,
            "fields": _key_values(event.target_fields),
        }
        if has_target
        else None
    )
    group = {"id": event.group_id, "name": event.group_name or None} if event.group_id else None
    node = {
        "id": event.retraced_id or str(event.pk),
        "action": event.action,
        "description": event.description or None,
        "group": group,
        "actor": actor,
        "target": target,
        "crud": event.crud or None,
        "display": {"markdown": display_markdown(event)},
        "received": _iso(event.received_at),
        "created": _iso(event.created_at),
        "canonical_time": _iso(event.created_at),
        "is_failure": event.is_failure,
        "is_anonymous": event.is_anonymous,
        "source_ip": event.remote_address or None,
        # Retraced fills these from a MaxMind lookup of source_ip; we do no geo lookup.
        "country": None,
        "loc_subdiv1": None,
        "loc_subdiv2": None,
        "component": event.component or None,
        "version": event.component_version or None,
        "fields": _key_values(event.fields),
        "external_id": event.external_id or None,
        "metadata": _key_values(event.metadata),
    }
    node["raw"] = json.dumps(_raw(event), separators=(",", ":"))
    return node


def display_markdown(event: AuditEvent) -> str:
    """Retraced's default display template, rendered with Handlebars' escaping."""
    actor = f"**{_escape(event.actor_name)}**" if event.actor_name else "**An unknown actor**"
    markdown = f"{actor} performed the action **{_escape(event.action)}**"
    if event.target_name:
        markdown += f" on the item **{_escape(event.target_name)}**"
    return markdown + "."


def _escape(text: str) -> str:
    return text.translate(HANDLEBARS_ESCAPES)


def _iso(moment: datetime) -> str:
    # moment.utc(t).format(): seconds precision, a literal Z.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_values(mapping: dict | None) -> list[dict[str, str]] | None:
    if not mapping:
        return None if mapping is None else []
    return [{"key": str(key), "value": _text(value)} for key, value in mapping.items()]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _raw(event: AuditEvent) -> dict[str, Any]:
    """The event in Retraced's input shape (we keep the stored columns, not the request)."""
    raw: dict[str, Any] = {"action": event.action}
    if event.crud:
        raw["crud"] = event.crud
    if event.group_id:
        raw["group"] = {"id": event.group_id, "name": event.group_name}
    if event.actor_id or event.actor_name:
        raw["actor"] = {"id": event.actor_id, "name": event.actor_name, "href": event.actor_href}
    if event.target_id:
        raw["target"] = {
            "id": event.target_id,
            "name": event.target_name,
            "href": event.target_href,
            "type": event.target_type,
        }
    raw["created"] = event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    optional = {
        "source_ip": event.remote_address,
        "description": event.description,
        "fields": event.fields,
        "component": event.component,
        "version": event.component_version,
        "external_id": event.external_id,
        "metadata": event.metadata,
    }
    raw.update({key: value for key, value in optional.items() if value})
    raw["is_failure"] = event.is_failure
    raw["is_anonymous"] = event.is_anonymous
    return raw
