"""
A paginator that never runs an unbounded COUNT(*) (performance-and-reliability.md §3.5):
filtered lists count at most COUNT_CAP + 1 rows (shown as "more than 10,000"); the unfiltered
list on PostgreSQL uses the planner's row estimate (pg_class.reltuples) once it is large.
"""

from functools import cached_property

from django.core.paginator import Paginator
from django.db import connections

COUNT_CAP = 10_000


def table_row_estimate(model, using: str = "default") -> int | None:
    """PostgreSQL's estimate of a table's rows; None elsewhere or before the first ANALYZE."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return row[0] if row and row[0] >= 0 else None


class CappedCountPaginator(Paginator):
    count_cap = COUNT_CAP

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.count_is_capped = False
        self.count_is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.where:
            estimate = table_row_estimate(queryset.model, queryset.db)
            if estimate is not None and estimate > self.count_cap:
                self.count_is_estimate = True
                return estimate
        # SELECT COUNT(*) FROM (SELECT ... LIMIT cap + 1): bounded work whatever the filter.
        counted = queryset.order_by()[: self.count_cap + 1].count()
        if counted > self.count_cap:
            self.count_is_capped = True
        return counted
