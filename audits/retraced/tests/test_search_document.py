"""Retraced's search with the search document (audits.search.document): the same rows as the
columns alone, and on PostgreSQL a plan that uses migration 0020's trigram index."""

import importlib

import pytest
from django.db import connection

from audits.models import ActorType, AuditEvent, AuditSource
from audits.retraced.search import (
    SearchScope,
    retraced_events_search,
    retraced_query_parse,
    retraced_query_q,
)

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("audits.migrations.0020_search_index_set")
MARK = "test-search-document"


@pytest.fixture
def events() -> dict[str, AuditEvent]:
    def insert(**columns) -> AuditEvent:
        return AuditEvent.objects.create(
            source=AuditSource.INTEGRATION, actor_type=ActorType.USER, request_uuid=MARK, **columns
        )

    return {
        "firewall": insert(action="update", description="opened the Firewall port"),
        "target": insert(action="create", target_type="Host::Base", target_name="fw1"),
        "split": insert(action="fire", name="wall"),
    }


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
        # Left only bitmap scans, the planner serves the words from the document index or
        # from no index at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _ids(queryset) -> set[int]:
    # Migrations record events of their own: only this module's rows are compared.
    return set(queryset.filter(request_uuid=MARK).values_list("id", flat=True))


def test_retraced_free_text_and_words_match_the_columns(events):
    scope = SearchScope("default", "production")
    assert _ids(retraced_events_search(scope, "firewall")) == {events["firewall"].id}
    assert _ids(retraced_events_search(scope, "target.type:host")) == {events["target"].id}
    assert _ids(retraced_events_search(scope, '"fire wall"')) == set()
    assert _ids(retraced_events_search(scope, "-description:firewall")) == {
        events["target"].id,
        events["split"].id,
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the document index is PostgreSQL's")
def test_postgresql_serves_retraced_free_text_from_the_document_index(events):
    # The query's own condition: with the tenancy too, on a handful of rows the planner may
    # rightly pick the tenancy's B-tree instead.
    searched = AuditEvent.objects.filter(retraced_query_q(retraced_query_parse("firewall")))
    assert _uses_document_index(_plan(searched))
