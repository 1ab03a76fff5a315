"""The search document: the same rows with it as without it, and on PostgreSQL a plan that
uses migration 0020's trigram index over it (the expression must be the index's, column for
column, or the planner cannot match them)."""

import importlib
import re

import pytest
from django.db import connection
from django.db.models import Q

from audits.models import ActorType, AuditEvent, AuditSource
from audits.search.document import SEARCH_DOCUMENT_COLUMNS, SearchDocument, document_narrowed
from audits.search.fields import audit_search

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("audits.migrations.0020_search_index_set")
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the document index is PostgreSQL's"
)


def event_insert(**columns) -> AuditEvent:
    columns = {"actor_name": "alice", "request_uuid": MARK, **columns}
    return AuditEvent.objects.create(source=AuditSource.SITE, actor_type=ActorType.USER, **columns)


MARK = "test-document"


@pytest.fixture
def events() -> dict[str, AuditEvent]:
    return {
        "firewall": event_insert(action="update", description="opened the Firewall port"),
        "changes": event_insert(action="update", audited_changes={"rule": ["allow", "deny"]}),
        "target": event_insert(
            action="create", target_type="Host::Base", target_name="fw1.example.com"
        ),
        "comment": event_insert(action="destroy", comment="firewall retired"),
        # The term split over two columns: in the document, in no column.
        "split": event_insert(action="fire", name="wall"),
        "login": event_insert(action="user.login.success", actor_name="bob"),
    }


def _ids(queryset) -> set[int]:
    # Migrations record events of their own: only this module's rows are compared.
    return set(queryset.filter(request_uuid=MARK).values_list("id", flat=True))


def _named(events: dict[str, AuditEvent], *names: str) -> set[int]:
    return {events[name].id for name in names}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("description ~ firewall", ["firewall"]),
        ("firewall", ["firewall", "comment"]),  # free text: description, comment...
        ("changes ~ deny", ["changes"]),
        ("target ~ fw1", ["target"]),
        ("action ~ login", ["login"]),
        ("description ~ fire*port", []),  # anchored: the whole value must match
        ("description ~ *fire*port", ["firewall"]),
        ("comment ~ fire*", ["comment"]),
        ("comment ~ *retired", ["comment"]),
        # A term the document holds across two columns matches no column: no row.
        ('"fire wall"', []),
        ("not description ~ firewall", ["changes", "target", "comment", "split", "login"]),
        ("description !~ firewall", ["changes", "target", "comment", "split", "login"]),
        ("action ~ login or comment ~ retired", ["login", "comment"]),
        ("user = alice and firewall", ["firewall", "comment"]),
    ],
)
def test_search_with_the_document_matches_what_the_columns_match(events, query, expected):
    assert _ids(audit_search(AuditEvent.objects.all(), query)) == _named(events, *expected)


def _document_tests(queryset) -> int:
    """How many times the query's SQL tests the search document."""
    return str(queryset.query).count(" || ' ' || ") // (len(SEARCH_DOCUMENT_COLUMNS) - 1)


@pytest.mark.parametrize(
    ("q", "tests_on_postgresql"),
    [
        (Q(description__icontains="x"), 1),
        (Q(description__icontains="x") | Q(action__icontains="x"), 2),
        (Q(comment__ilike="a%b"), 1),
        (~Q(description__icontains="x"), 0),  # the index cannot serve a negation
        (Q(description="x"), 0),  # equality has its B-tree
        (Q(group_name__icontains="x"), 0),  # not a column of the document
    ],
)
def test_document_narrowed_adds_the_document_to_substring_matches_only(q, tests_on_postgresql):
    narrowed = AuditEvent.objects.filter(document_narrowed(q))
    expected = tests_on_postgresql if connection.vendor == "postgresql" else 0
    assert _document_tests(narrowed) == expected


def _unqualified(sql: str) -> str:
    return re.sub(r'"audits_auditevent"\.|"', "", sql)


@on_postgresql
def test_the_document_expression_is_the_migrations():
    query = AuditEvent.objects.annotate(document=SearchDocument()).values("document").query
    sql, _ = query.get_compiler(connection=connection).as_sql()
    expression = _unqualified(sql).removeprefix("SELECT ").split(" AS document")[0]
    assert expression == f"({MIGRATION.DOCUMENT_SQL})"
    assert all(column in MIGRATION.DOCUMENT_SQL for column in SEARCH_DOCUMENT_COLUMNS)


def _document_index_names() -> set[str]:
    """The document index and, on the partitioned table, its partitions' own indexes, which
    are what a plan names."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relid::regclass::text FROM pg_partition_tree(%s::regclass)",
            [MIGRATION.DOCUMENT_INDEX],
        )
        return {name for (name,) in cursor.fetchall()}


def _uses_document_index(plan: str) -> bool:
    return any(f" on {name} " in f"{plan} " for name in _document_index_names())


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # Left only bitmap scans, the planner can serve `~` from the document index or not at
        # all; on a near-empty table it would rightly prefer a sequential scan.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@on_postgresql
@pytest.mark.parametrize(
    "query", ["description ~ firewall", "firewall", "changes ~ deny", "comment ~ fire*wall"]
)
def test_postgresql_serves_substring_search_from_the_document_index(events, query):
    assert _uses_document_index(_plan(audit_search(AuditEvent.objects.all(), query)))
