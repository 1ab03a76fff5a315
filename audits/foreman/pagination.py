"""
Foreman's index envelope, {total, subtotal, page, per_page, search, sort, results}, streamed
as its rows are read, and the bounded counts behind its totals.
"""

from collections.abc import Callable, Iterator

from django.conf import settings
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from audits.foreman.ids import is_decimal_id
from audits.paginator import bounded_count

DEFAULT_PER_PAGE = 20  # Foreman's Setting[:entries_per_page]
# will_paginate (Foreman's paginator) refuses an offset beyond a signed 64-bit integer, which
# is also where PostgreSQL's and SQLite's OFFSET stop: no row can sit further out.
MAX_ROW_POSITION = 2**63 - 1
# Rows per fetch from the server-side cursor of a streamed page. A page that may hold more
# rows is streamed; one that holds fewer is built and rendered whole, as DRF does, which costs
# less per row and keeps Content-Length.
STREAM_CHUNK = 1000


# --- Counting -----------------------------------------------------------------------------


def foreman_count(queryset: QuerySet) -> int:
    """Exact up to AUDIT_API_EXACT_COUNT_LIMIT; beyond it the planner's estimate, never below
    the limit + 1 (`audits.paginator.bounded_count`). Off PostgreSQL, which has no estimate,
    the exact count."""
    limit = settings.AUDIT_API_EXACT_COUNT_LIMIT
    counted = bounded_count(queryset, limit)
    if counted.exact is not None:
        return counted.exact
    if counted.estimate is not None:
        return counted.estimate
    return queryset.count()


def _exceeds(queryset: QuerySet, limit: int) -> bool:
    """Whether more than `limit` rows match: an exact count of at most limit + 1 rows."""
    return queryset.order_by()[: limit + 1].count() > limit


# --- Pagination ---------------------------------------------------------------------------


class ForemanPagination(BasePagination):
    """Foreman's index layout: {total, subtotal, page, per_page, search, sort, results}.

    `total` counts the view's scope without `search`; `subtotal` with it. `per_page` is an
    integer or `all`; `all` or a number above AUDIT_API_MAX_PER_PAGE (apypie and the Ansible
    modules send 2**32) is a fetch-all: every matching record, and a 400 if they are more
    than AUDIT_API_MAX_PER_PAGE, since those clients read `results` alone and a short list
    would silently lose records.

    `paginate_queryset` returns the page as a lazy queryset slice. A page that may hold more
    than STREAM_CHUNK rows (`streams`) is written by `streaming_response` as its rows are
    read from a server-side cursor, byte for byte what `get_paginated_response` renders from
    a built list, so memory stays flat on any page.
    """

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        self.search = params.get("search") or None
        self.sort_by, self.sort_order = getattr(view, "sort_echo", (None, None))
        self.page = _page_number(params.get("page"))
        ceiling = settings.AUDIT_API_MAX_PER_PAGE
        raw_per_page = (params.get("per_page") or "").strip()
        self.subtotal = foreman_count(queryset)
        if self.search and view is not None and hasattr(view, "unsearched_queryset"):
            self.total = foreman_count(view.unsearched_queryset())
        else:
            self.total = self.subtotal
        fetch_all = raw_per_page.lower() == "all"
        if fetch_all:
            self.page, limit = 1, ceiling
            self.per_page = min(self.total, ceiling)
        else:
            requested = _per_page(raw_per_page)
            fetch_all = requested > ceiling
            limit = min(requested, ceiling)
            self.per_page = limit
        offset = (self.page - 1) * limit
        if offset + limit > MAX_ROW_POSITION:
            raise exceptions.ValidationError(
                {"page": [f"Page {self.page} of {limit} is past any row position (2^63)."]}
            )
        if fetch_all and self.subtotal > ceiling and _exceeds(queryset[offset:], ceiling):
            raise exceptions.ValidationError(
                {
                    "per_page": [
                        f"More than {ceiling} records match, the most one answer holds "
                        "(AUDIT_API_MAX_PER_PAGE); narrow the search, or page through them "
                        f"with per_page of at most {ceiling}."
                    ]
                }
            )
        # At most this many rows can be on the page (subtotal is exact up to its limit and
        # never below it beyond): a small page is built as always, a big one streamed.
        self.page_rows = min(limit, max(self.subtotal - offset, 0))
        return queryset[offset : offset + limit]

    @property
    def streams(self) -> bool:
        return self.page_rows > STREAM_CHUNK

    def _envelope(self, results) -> dict:
        return {
            "total": self.total,
            "subtotal": self.subtotal,
            "page": self.page,
            "per_page": self.per_page,
            "search": self.search,
            "sort": {"by": self.sort_by, "order": self.sort_order},
            "results": results,
        }

    def get_paginated_response(self, data):
        return Response(self._envelope(data))

    def streaming_response(
        self, rows: QuerySet, represent: Callable, renderer, media_type: str, context: dict
    ) -> StreamingHttpResponse:
        """The envelope written as `rows` are read (a server-side cursor, STREAM_CHUNK rows
        per fetch), each record rendered on its own by the view's JSON renderer, so the
        bytes equal `get_paginated_response`'s for the same page."""
        head = renderer.render(self._envelope([]), media_type, context)

        def body() -> Iterator[bytes]:
            buffer = [head[:-2]]
            for number, row in enumerate(rows.iterator(chunk_size=STREAM_CHUNK)):
                if number:
                    buffer.append(b",")
                buffer.append(renderer.render(represent(row), media_type, context))
                if len(buffer) >= 2 * STREAM_CHUNK:
                    yield b"".join(buffer)
                    buffer = []
            buffer.append(b"]}")
            yield b"".join(buffer)

        return StreamingHttpResponse(body(), content_type=renderer.media_type)

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "properties": {
                "total": {"type": "integer"},
                "subtotal": {"type": "integer"},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "search": {"type": "string", "nullable": True},
                "sort": {
                    "type": "object",
                    "properties": {
                        "by": {"type": "string", "nullable": True},
                        "order": {"type": "string", "nullable": True},
                    },
                },
                "results": schema,
            },
        }


def _page_number(raw: str | None) -> int:
    # Foreman: `to_i`, and 0 (absent, "0") means the first page.
    if raw is None or not raw.strip():
        return 1
    number = _digits(raw.strip())
    if number is None:
        raise exceptions.ValidationError({"page": ["Must be a positive integer."]})
    if number > MAX_ROW_POSITION:
        raise exceptions.ValidationError({"page": ["Must be below 2^63: no row is that far."]})
    return max(number, 1)


def _per_page(raw: str) -> int:
    if not raw:
        return DEFAULT_PER_PAGE
    number = _digits(raw)
    if number is None or number < 1:
        raise exceptions.ValidationError({"per_page": ["Must be a positive integer or 'all'."]})
    # Any size beyond a row position means "everything" (apypie sends 2**32); the caller caps
    # it at AUDIT_API_MAX_PER_PAGE.
    return min(number, MAX_ROW_POSITION)


def _digits(raw: str) -> int | None:
    """ASCII digits as an int, or None. int() refuses more than 4300 digits; a number that
    long is past any row anyway."""
    if not is_decimal_id(raw):
        return None
    return int(raw) if len(raw) <= 20 else MAX_ROW_POSITION + 1
