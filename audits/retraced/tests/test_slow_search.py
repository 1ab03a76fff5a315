"""
A Retraced search past RETRACED_SEARCH_BUDGET_MS runs again only while it holds its scope's
slot and one of the server's (integration_site.db_limits.slow_read); refused, it is a 429
with Retry-After. The search is made slow for real: another connection holds the event
table locked, so the search's first statement waits past the budget.
"""

import threading
import time

import pytest
from django.conf import settings as django_settings

from audits.models import AuditEvent
from audits.retraced.search import SearchScope
from audits.retraced.tests.factories import retraced_event
from integration_site.db_limits import SLOW_READ_KEY_SLOT, SLOW_READ_SITE_SLOTS, slot_number

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="the budget is a statement_timeout and the slots advisory locks",
    ),
]

COUNT = '{ search(query: "") { totalCount edges { node { action } } } }'
VIEWER_KEY = "retraced-search:" + SearchScope("default", "production", "group-a").slot_key


@pytest.fixture
def group_a(tenancy, settings):
    settings.RETRACED_SEARCH_BUDGET_MS = 100
    for action in ("a.one", "a.two", "a.three"):
        retraced_event(
            project="default", environment="production", group_id="group-a", action=action, crud="c"
        )


@pytest.fixture
def table_locked(other_connection):
    """The event table locked by another connection until `.release()` (or the test's end)."""
    conn = other_connection()
    conn.execute("BEGIN")
    conn.execute(f"LOCK TABLE {AuditEvent._meta.db_table} IN ACCESS EXCLUSIVE MODE")
    released = threading.Event()

    class Lock:
        def release(self) -> None:
            if not released.is_set():
                released.set()
                conn.execute("COMMIT")

    lock = Lock()
    yield lock
    lock.release()


def _viewer_search(client):
    return client.post("/viewer/v1/graphql?skipViewLogEvent=true", {"query": COUNT}, format="json")


def test_a_slow_search_refused_while_another_of_its_scope_runs(
    group_a, viewer_session, table_locked, other_connection
):
    client = viewer_session("group-a")
    holder = other_connection()  # another slow search of the same group, holding the group's slot
    holder.execute("SELECT pg_advisory_lock(%s, %s)", [SLOW_READ_KEY_SLOT, slot_number(VIEWER_KEY)])
    try:
        response = _viewer_search(client)
    finally:
        holder.close()
    assert response.status_code == 429, response.content
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["status"] == 429
    assert body["error"].startswith(
        "A slow search of the same scope (one that ran past 100 ms) is running"
    )


def test_a_slow_search_refused_while_every_slot_of_the_site_is_taken(
    group_a, viewer_session, table_locked, settings, other_connection
):
    settings.SLOW_SEARCH_SLOTS = 1
    settings.RETRACED_SEARCH_BUSY_BUDGET_MS = 40
    client = viewer_session("group-a")
    holder = other_connection()  # some other scope's slow search holds the site's one slot
    holder.execute("SELECT pg_advisory_lock(%s, 0)", [SLOW_READ_SITE_SLOTS])
    try:
        response = _viewer_search(client)
    finally:
        holder.close()
    assert response.status_code == 429, response.content
    assert response.json()["error"].startswith(
        # Every slot was taken before it ran, so it ran within the busy budget, not the whole one.
        "This search ran past 40 ms and 1 slow searches are running on this site"
    )


def test_a_slow_search_with_a_free_slot_answers_in_full(
    group_a, viewer_session, table_locked, other_connection
):
    client = viewer_session("group-a")

    def release_once_the_search_holds_a_slot() -> None:
        # The search runs again, unbudgeted, only once it holds a slot: then let it through.
        watcher = other_connection()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                held = watcher.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND classid::int = %s AND granted",
                    [SLOW_READ_SITE_SLOTS],
                ).fetchone()[0]
                if held:
                    break
                time.sleep(0.02)
        finally:
            watcher.close()
            table_locked.release()

    releaser = threading.Thread(target=release_once_the_search_holds_a_slot)
    releaser.start()
    response = _viewer_search(client)
    releaser.join()
    assert response.status_code == 200, response.content
    search = response.json()["data"]["search"]
    assert search["totalCount"] == 3
    assert {edge["node"]["action"] for edge in search["edges"]} == {"a.one", "a.two", "a.three"}


def test_publisher_and_enterprise_searches_are_guarded_too(
    group_a, publisher, enterprise_client, table_locked, other_connection
):
    holder = other_connection()
    holder.execute(
        "SELECT pg_advisory_lock(%s, 0), pg_advisory_lock(%s, 1)",
        [SLOW_READ_SITE_SLOTS, SLOW_READ_SITE_SLOTS],
    )
    try:
        responses = [
            publisher.post(
                "/publisher/v1/project/default/graphql", {"query": COUNT}, format="json"
            ),
            enterprise_client("group-a").post(
                "/enterprise/v1/graphql", {"query": COUNT}, format="json"
            ),
        ]
    finally:
        holder.close()
    assert [r.status_code for r in responses] == [429, 429], [r.content for r in responses]
