"""
Foreman's index envelope, {total, subtotal, page, per_page, search, sort, results}, and the
bounded counts behind its totals.
"""

import json

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from audits.foreman.ids import is_decimal_id

DEFAULT_PER_PAGE = 20  # Foreman's Setting[:entries_per_page]
# will_paginate (Foreman's paginator) refuses an offset beyond a signed 64-bit integer, which
# is also where PostgreSQL's and SQLite's OFFSET stop: no row can sit further out.
MAX_ROW_POSITION = 2**63 - 1


# --- Counting -----------------------------------------------------------------------------


def _estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's planner estimate of the row count: instant, roughly right."""
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset: QuerySet) -> int:
    """Exact up to AUDIT_API_EXACT_COUNT_LIMIT; beyond it the planner's estimate (never below
    the limit + 1). A full COUNT over millions of rows costs seconds on every page."""
    limit = settings.AUDIT_API_EXACT_COUNT_LIMIT
    counted = queryset.order_by()[: limit + 1].count()
    if counted <= limit:
        return counted
    estimate = _estimate(queryset)
    if estimate is None:
        return queryset.count()
    return max(estimate, limit + 1)


# --- Pagination ---------------------------------------------------------------------------


class ForemanPagination(BasePagination):
    """Foreman's index layout: {total, subtotal, page, per_page, search, sort, results}.

    `total` counts the view's scope without `search`; `subtotal` with it. `per_page` is an
    integer or `all`; a huge integer (apypie and the Ansible modules send 2**32) means
    everything, up to AUDIT_API_MAX_PER_PAGE.
    """

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        self.search = params.get("search") or None
        self.sort_by, self.sort_order = getattr(view, "sort_echo", (None, None))
        self.page = _page_number(params.get("page"))
        ceiling = settings.AUDIT_API_MAX_PER_PAGE
        raw_per_page = (params.get("per_page") or "").strip()
        self.subtotal = bounded_count(queryset)
        if self.search and view is not None and hasattr(view, "unsearched_queryset"):
            self.total = bounded_count(view.unsearched_queryset())
        else:
            self.total = self.subtotal
        if raw_per_page.lower() == "all":
            self.page, limit = 1, ceiling
            self.per_page = min(self.total, ceiling)
        else:
            limit = min(_per_page(raw_per_page), ceiling)
            self.per_page = limit
        offset = (self.page - 1) * limit
        if offset + limit > MAX_ROW_POSITION:
            raise exceptions.ValidationError(
                {"page": [f"Page {self.page} of {limit} is past any row position (2^63)."]}
            )
        return list(queryset[offset : offset + limit])

    def get_paginated_response(self, data):
        return Response(
            {
                "total": self.total,
                "subtotal": self.subtotal,
                "page": self.page,
                "per_page": self.per_page,
                "search": self.search,
                "sort": {"by": self.sort_by, "order": self.sort_order},
                "results": data,
            }
        )

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
