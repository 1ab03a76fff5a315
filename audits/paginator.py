"""
Counting matches without ever paying for millions (performance-and-reliability.md §3.5), for
the admin changelists' paginator and Foreman's `total`/`subtotal`.

`bounded_count` counts exactly up to a cap. Beyond it the answer is PostgreSQL's planner
estimate: a COUNT(*) over a million matching rows costs seconds on every page, and nobody
pages through ten thousand rows to check the figure. How it gets there, on PostgreSQL:

1. `EXPLAIN` gives the planner's estimate (about a millisecond).
2. A search the planner expects to match far more than the cap (`ESTIMATE_TRUSTED_FROM`
   times it) is still counted exactly, but only for `AUDIT_COUNT_BUDGET_MS`. A common word
   in a free-text or `~` search takes the trigram index's whole posting lists and a recheck
   of row after row before 10,001 matches are found (0.3 to 0.7 s at 1M to 10M events,
   issue 18); a rare word the planner misjudged is counted within the budget and stays
   exact. Past the budget, the estimate is the answer. An unfiltered list that large is not
   counted at all: a table's size is what the planner knows best.
3. Anything else is counted exactly up to the cap: `SELECT COUNT(*) FROM (… LIMIT cap + 1)`.

SQLite has no estimate: everything is counted, up to the cap.
"""

import json
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import OperationalError, connections
from django.db.models import QuerySet
from psycopg.errors import QueryCanceled

from integration_site.db_limits import statement_time_limit

COUNT_CAP = 10_000
# Only an estimate this many times the cap skips the unbudgeted exact count: the planner's
# figure for a search comes from a sample of about a hundred rows, so an estimate near the
# cap may well be a few thousand rows in truth.
ESTIMATE_TRUSTED_FROM = 5


@dataclass(frozen=True)
class BoundedCount:
    """`exact`: the number of matches, when at most the cap; otherwise None, and `estimate`
    is the planner's figure (above the cap; None off PostgreSQL)."""

    exact: int | None
    estimate: int | None = None


def planner_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's planner estimate of the rows a queryset matches: instant, roughly right.
    None off PostgreSQL."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    try:
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # `.none()`, or a condition Django knows matches nothing
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def count_up_to(queryset: QuerySet, cap: int) -> int:
    """The exact number of matches, or cap + 1 when there are more: bounded work whatever
    the filter."""
    return queryset.order_by()[: cap + 1].count()


def _count_up_to_within_budget(queryset: QuerySet, cap: int) -> int | None:
    """`count_up_to`, or None when it takes longer than AUDIT_COUNT_BUDGET_MS (0: no
    attempt, the estimate at once)."""
    budget_ms = settings.AUDIT_COUNT_BUDGET_MS
    if budget_ms <= 0:
        return None
    try:
        with statement_time_limit(queryset.db, budget_ms):
            return count_up_to(queryset, cap)
    except OperationalError as error:
        if isinstance(error.__cause__, QueryCanceled):
            return None
        raise


def bounded_count(queryset: QuerySet, cap: int) -> BoundedCount:
    """The number of rows `queryset` matches, exact up to `cap` (module docstring)."""
    estimate = planner_estimate(queryset)
    if estimate is not None and estimate >= ESTIMATE_TRUSTED_FROM * cap:
        if not queryset.query.where:
            return BoundedCount(exact=None, estimate=estimate)
        counted = _count_up_to_within_budget(queryset, cap)
        if counted is None:
            return BoundedCount(exact=None, estimate=estimate)
    else:
        counted = count_up_to(queryset, cap)
    if counted <= cap:
        return BoundedCount(exact=counted)
    return BoundedCount(exact=None, estimate=None if estimate is None else max(estimate, cap + 1))


class CappedCountPaginator(Paginator):
    """The admin's paginator: "more than 10,000" for a filtered list past the cap, "about N"
    for an unfiltered one (`bounded_count`)."""

    count_cap = COUNT_CAP

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.count_is_capped = False
        self.count_is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        counted = bounded_count(queryset, self.count_cap)
        if counted.exact is not None:
            return counted.exact
        if not queryset.query.where and counted.estimate is not None:
            self.count_is_estimate = True
            return counted.estimate
        self.count_is_capped = True
        return self.count_cap + 1
