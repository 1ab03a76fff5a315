"""
Bounded counts (audits/paginator.py): exact up to a cap; beyond it the planner's estimate,
after an exact count within AUDIT_COUNT_BUDGET_MS for a search expected to match far more.
"""

import pytest
from django.db import OperationalError, connection

from audits.models import AuditEvent
from audits.paginator import (
    ESTIMATE_TRUSTED_FROM,
    BoundedCount,
    bounded_count,
    planner_estimate,
)
from audits.services import audit_event_record
from integration_site.db_limits import statement_time_limit

pytestmark = pytest.mark.django_db


def record(action: str, count: int) -> None:
    for _ in range(count):
        audit_event_record(action=action)


def analyze() -> None:
    # The planner's figures come from ANALYZE (which counts this transaction's own rows).
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {AuditEvent._meta.db_table}")


def test_counts_exactly_up_to_the_cap():
    record("a", 4)
    assert bounded_count(AuditEvent.objects.filter(action="a"), 10).exact == 4
    assert bounded_count(AuditEvent.objects.filter(action="a"), 4).exact == 4
    beyond = bounded_count(AuditEvent.objects.filter(action="a"), 3)
    assert beyond.exact is None
    if connection.vendor == "postgresql":
        assert beyond.estimate >= 4  # never below the cap + 1
    else:
        assert beyond.estimate is None  # SQLite has no estimate


def test_a_search_that_matches_nothing_by_construction_counts_zero():
    # What a bad admin search or a Foreman search of no possible value filters by.
    assert bounded_count(AuditEvent.objects.none(), 10) == BoundedCount(exact=0)
    assert bounded_count(AuditEvent.objects.filter(pk__in=[]), 10) == BoundedCount(exact=0)


def test_an_unfiltered_list_far_past_the_cap_is_not_counted(monkeypatch):
    monkeypatch.setattr("audits.paginator.planner_estimate", lambda queryset: 2_000_000)
    monkeypatch.setattr("audits.paginator.count_up_to", pytest.fail)
    assert bounded_count(AuditEvent.objects.all(), 3) == BoundedCount(None, 2_000_000)


@pytest.mark.postgres
def test_the_planner_estimate_follows_analyze():
    record("common", 60)
    record("rare", 2)
    analyze()
    # Each partition the plan visits adds its own row or so of doubt.
    assert 55 <= planner_estimate(AuditEvent.objects.filter(action="common")) <= 75
    assert planner_estimate(AuditEvent.objects.filter(action="rare")) <= 15


@pytest.mark.postgres
def test_a_search_expected_to_match_far_more_than_the_cap_gets_the_estimate(settings):
    record("common", 40)
    analyze()
    matching = AuditEvent.objects.filter(action="common")
    assert planner_estimate(matching) >= ESTIMATE_TRUSTED_FROM * 2
    # Counted within the budget: more than the cap, so the estimate.
    counted = bounded_count(matching, 2)
    assert counted.exact is None and counted.estimate >= 38
    # A search the planner misjudges (md5(action) has no statistics: `<>` keeps 99.5 % by
    # its reckoning; 2 rows in truth) whose check sleeps 20 ms a row, against a 1 ms budget:
    # the count is cut, so the estimate, though counted in full it would be exact.
    record("rare", 2)
    slow = AuditEvent.objects.filter(action__in=["common", "rare"]).extra(
        where=["md5(action) <> md5('common')", "pg_sleep(0.02) IS NOT NULL"]
    )
    assert planner_estimate(slow) >= ESTIMATE_TRUSTED_FROM * 2
    settings.AUDIT_COUNT_BUDGET_MS = 1
    cut = bounded_count(slow, 2)
    assert cut.exact is None and cut.estimate >= ESTIMATE_TRUSTED_FROM * 2
    # The caller's transaction goes on; without the budget the same search is exact.
    settings.AUDIT_COUNT_BUDGET_MS = 60_000
    assert bounded_count(slow, 2).exact == 2
    # 0: no attempt at all, the estimate at once.
    settings.AUDIT_COUNT_BUDGET_MS = 0
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr("audits.paginator.count_up_to", pytest.fail)
        assert bounded_count(matching, 2).exact is None


@pytest.mark.postgres
def test_a_search_the_planner_misjudges_is_still_counted_exactly():
    record("common", 40)
    record("rare", 2)
    analyze()
    # md5(action) has no statistics: the planner takes `<>` to keep 99.5 % of the rows.
    misjudged = AuditEvent.objects.filter(action__in=["common", "rare"]).extra(
        where=["md5(action) <> md5('common')"]
    )
    assert planner_estimate(misjudged) >= ESTIMATE_TRUSTED_FROM * 2
    assert bounded_count(misjudged, 2).exact == 2


@pytest.mark.postgres
def test_a_statement_time_limit_is_gone_after_its_block():
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        before = cursor.fetchone()[0]
        with statement_time_limit("default", 5):
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "5ms"
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == before
        with pytest.raises(OperationalError), statement_time_limit("default", 5):
            cursor.execute("SELECT pg_sleep(0.2)")
        # The cancelled statement's savepoint is gone, the caller's transaction usable.
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == before
