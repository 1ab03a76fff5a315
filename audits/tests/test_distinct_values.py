"""The admin sidebar's distinct values: the same list as SELECT DISTINCT, in order, capped."""

import pytest

from audits.models import ActorType, AuditEvent, AuditSource
from audits.selectors import audit_event_distinct_values

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _events():
    for action, actor in [("b.x", "zed"), ("a.y", "amy"), ("c.z", "amy"), ("a.y", "bob")]:
        AuditEvent.objects.create(
            source=AuditSource.SITE, actor_type=ActorType.USER, actor_name=actor, action=action
        )


def _distinct(column: str) -> list[str]:
    # Migrations record events of their own: the expectation is computed over every row.
    return sorted(set(AuditEvent.objects.values_list(column, flat=True)))


@pytest.mark.parametrize("column", ["action", "actor_name", "target_type"])
def test_distinct_values_are_every_value_once_in_order(column):
    assert audit_event_distinct_values(column, limit=1000) == _distinct(column)


def test_distinct_values_stop_at_the_limit():
    assert audit_event_distinct_values("action", limit=2) == _distinct("action")[:2]


def test_distinct_values_refuse_a_column_no_index_leads():
    with pytest.raises(ValueError, match="no index leads"):
        audit_event_distinct_values("description", limit=5)
