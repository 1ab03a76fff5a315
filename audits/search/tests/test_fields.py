"""Property: any input either compiles, over the audit field map, to a Q the database runs,
or raises QueryError. Never a database error, never another exception."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audits.models import ActorType, AuditEvent, AuditSource
from audits.search.errors import QueryError
from audits.search.fields import AUDIT_SEARCH_SCHEMA, audit_search_q, searchable

pytestmark = pytest.mark.django_db


def event_insert(**columns) -> AuditEvent:
    """An event row written straight through the model, not through `audits.services`: search
    reads columns, never the chain, and the search package (its tests included) depends on
    nothing in `audits` but the models."""
    return AuditEvent.objects.create(
        source=AuditSource.SITE, actor_type=ActorType.SYSTEM, actor_name="system", **columns
    )


@pytest.fixture(autouse=True)
def _events():
    # Rows of each shape, so the database evaluates every expression, not just plans it.
    event_insert(
        action="update",
        target_type="Host::Base",
        target_id="1",
        target_name="web1",
        audited_changes={"comment": ["", "x"]},
        fields={"plan": "gold"},
        remote_address="192.0.2.1",
    )
    event_insert(action="user.login", name="user", description="hello")


WORDS = [
    *AUDIT_SEARCH_SCHEMA.names,
    "fields.plan",
    "fields.__x",
    "and",
    "or",
    "not",
    "has",
    "set?",
    "null?",
    "before",
    "after",
    "at",
    "=",
    "==",
    "!=",
    "<>",
    "~",
    "!~",
    ">",
    "<",
    ">=",
    "<=",
    "^",
    "!^",
    "&",
    "&&",
    "|",
    "||",
    "!",
    "-",
    "(",
    ")",
    ",",
    '"',
    "\\",
    "*",
    "%",
    "_",
    "host",
    "Host::Base",
    "2024-05-01",
    '"2 days ago"',
    "today",
    "-5",
    "99999999999999999999",
    "1.2.3.4",
    "abc",
    "é",
    "'",
    ";",
    "--",
    "\x00",
]
queries = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
    st.lists(st.sampled_from(WORDS), max_size=12).map("".join),
    st.text(max_size=40),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=queries)
def test_any_query_runs_or_raises_query_error(query):
    try:
        q = audit_search_q(query)
    except QueryError:
        return
    events = searchable(AuditEvent.objects.all()).filter(q)
    list(events.order_by("-created_at")[:5])
    events.count()


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("b*a", {"BA", "bxa", "b\nxa"}),
        ("*a", {"BA", "bxa", "b\nxa", "xbxa"}),
        ("b*x*", {"bxa", "b\nxa"}),
    ],
)
def test_wildcard_patterns_anchor_at_the_very_ends_on_every_database(pattern, expected):
    # "BA\n" ends in a newline after the "a": not a match for "b*a", on PostgreSQL or SQLite.
    for name in ("BA", "BA\n", "bxa", "b\nxa", "xbxa"):
        event_insert(action="wildcard.probe", description=name)
    found = set(
        AuditEvent.objects.filter(action="wildcard.probe")
        .filter(audit_search_q(f'description ~ "{pattern}"'))
        .values_list("description", flat=True)
    )
    assert found == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("a_*b", {"a_b", "A_xB"}),
        ("a%*b", {"a%b", "a%%b", "axb", "a_b", "A_xB", "a\\b"}),  # "%" is a wildcard, like "*"
        ("a\\\\*b", {"a\\b"}),
        ("*_*b", {"a_b", "A_xB"}),
    ],
)
def test_wildcard_patterns_keep_underscore_and_backslash_literal_on_every_database(
    pattern, expected
):
    for name in ("a_b", "A_xB", "axb", "a%b", "a%%b", "a\\b", "ab_"):
        event_insert(action="wildcard.literal", description=name)
    found = set(
        AuditEvent.objects.filter(action="wildcard.literal")
        .filter(audit_search_q(f'description ~ "{pattern}"'))
        .values_list("description", flat=True)
    )
    assert found == expected


def test_wildcard_pattern_on_a_json_key_matches_its_text_not_its_json():
    event_insert(action="wildcard.key", fields={"plan": "Gold-Plus"})
    event_insert(action="wildcard.key", fields={"plan": "silver"})
    found = AuditEvent.objects.filter(action="wildcard.key").filter(
        audit_search_q("fields.plan ~ g*d*s")
    )
    assert [event.fields for event in found] == [{"plan": "Gold-Plus"}]
