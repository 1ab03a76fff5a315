"""
The routes that read events with a viewer session or an enterprise token: GraphQL, the CSV
export and the active-search pages. Events of another group (or, for a target-scoped viewer,
another target) never appear; each reading is recorded in the group's own log.
"""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from audits.models import AuditEvent
from audits.retraced.tests.factories import BASE_TIME, retraced_event

pytestmark = pytest.mark.django_db

SEARCH = """
query Search($query: String!, $last: Int, $before: String) {
  search(query: $query, last: $last, before: $before) {
    totalCount
    pageInfo { hasPreviousPage }
    edges { cursor node { id action crud group { id } target { id } actor { id name } } }
  }
}
"""
EXPORT_BODY = {
    "version": 1,
    "searchQuery": "",
    "showCreate": True,
    "showRead": False,
    "showUpdate": True,
    "showDelete": True,
}


def _event(group_id: str, action: str, *, project: str = "default", **fields) -> AuditEvent:
    return retraced_event(
        project=project,
        environment="production",
        group_id=group_id,
        action=action,
        **fields,
    )


@pytest.fixture
def two_groups(tenancy):
    """Events of group A (one per crud, two targets) and of group B, and another project's."""
    _event("group-a", "a.create", crud="c", target_id="t1", created_at=BASE_TIME)
    _event("group-a", "a.read", crud="r", target_id="t1", created_at=BASE_TIME + timedelta(1))
    _event("group-a", "a.update", crud="u", target_id="t2", created_at=BASE_TIME + timedelta(2))
    _event("group-a", "a.delete", crud="d", target_id="t2", created_at=BASE_TIME + timedelta(3))
    _event("group-b", "b.secret", crud="c", target_id="t1", created_at=BASE_TIME)
    _event("group-a", "other.project", crud="c", project="other", created_at=BASE_TIME)


def _search(client, query: str = "", *, path="/viewer/v1/graphql", last=50, qs="") -> dict:
    """A search; the viewer's are not recorded unless `qs` says otherwise (tests of that)."""
    if path.startswith("/viewer/") and not qs:
        qs = "skipViewLogEvent=true"
    response = client.post(
        path + (f"?{qs}" if qs else ""),
        {"query": SEARCH, "variables": {"query": query, "last": last}},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["data"]["search"]


def _actions(search: dict) -> set[str]:
    return {edge["node"]["action"] for edge in search["edges"]}


# --- Viewer GraphQL ------------------------------------------------------------------------


def test_viewer_searches_only_its_group_and_hides_reads(two_groups, viewer_session):
    client = viewer_session("group-a")
    found = _search(client)
    assert _actions(found) == {"a.create", "a.update", "a.delete"}
    assert found["totalCount"] == 3
    # Reads shown when the query asks for them; group B's never, whatever the query says.
    assert _actions(_search(client, "crud:c,r,u,d")) == {
        "a.create",
        "a.read",
        "a.update",
        "a.delete",
    }
    assert _actions(_search(client, "b.secret")) == set()
    assert _actions(_search(client, "action:b.secret")) == set()
    assert _actions(_search(viewer_session("group-b"))) == {"b.secret"}


def test_viewer_search_by_get(two_groups, viewer_session):
    client = viewer_session("group-a")
    response = client.get("/viewer/v1/graphql", {"query": '{ search(query: "") { totalCount } }'})
    assert response.status_code == 200
    assert response.json()["data"]["search"]["totalCount"] == 3


def test_target_scoped_viewer_sees_only_its_target(two_groups, viewer_session):
    client = viewer_session("group-a", target_id="t2")
    assert _actions(_search(client, "crud:c,r,u,d")) == {"a.update", "a.delete"}
    assert _actions(_search(client, "target.id:t1")) == set()


def test_viewer_search_records_the_view_unless_skipped(two_groups, viewer_session):
    client = viewer_session("group-a", actor_id="alice", view_log_action="customer.log.view")
    _search(client, qs="recorded=yes")
    view = AuditEvent.objects.get(action="customer.log.view")
    assert (view.crud, view.actor_id, view.group_id, view.description) == (
        "r",
        "alice",
        "group-a",
        "Viewed the audit log",
    )
    assert (view.project, view.environment) == ("default", "production")
    _search(client, qs="skipViewLogEvent=true")
    assert AuditEvent.objects.filter(action="customer.log.view").count() == 1


def test_default_view_action_and_target_on_the_view_event(two_groups, viewer_session):
    _search(viewer_session("group-a", target_id="t1"), qs="recorded=yes")
    view = AuditEvent.objects.get(action="audit.log.view")
    assert view.target_id == "t1"


def test_bad_graphql_query_is_400_with_errors_and_records_nothing(two_groups, viewer_session):
    client = viewer_session("group-a")
    response = client.post("/viewer/v1/graphql", {"query": "{ nope }"}, format="json")
    assert response.status_code == 400 and response.json()["errors"]
    response = client.post(
        "/viewer/v1/graphql",
        {"query": SEARCH, "variables": {"query": 'action:"unterminated', "last": 5}},
        format="json",
    )
    assert response.status_code == 400 and response.json()["errors"]
    assert not AuditEvent.objects.filter(action="audit.log.view").exists()


def test_expired_session_graphql_is_401_without_search_edges(two_groups, viewer_session, settings):
    settings.RETRACED_VIEWER_SESSION_SECONDS = -1
    client = viewer_session("group-a")
    response = client.post("/viewer/v1/graphql", {"query": SEARCH}, format="json")
    assert response.status_code == 401
    body = response.json()
    # logs-viewer calls refreshToken() when the answer has no data.search.edges and no errors.
    assert "data" not in body and "errors" not in body
    assert body["status"] == 401


def test_viewer_graphql_preflight(tenancy):
    response = APIClient().options(
        "/viewer/v1/graphql",
        HTTP_ORIGIN="https://vendor.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"


# --- CSV export ----------------------------------------------------------------------------


def _export(client, body=None, name="My export") -> str:
    response = client.post(
        "/viewer/v1/project/default/export",
        {"name": name, "exportBody": body or EXPORT_BODY},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _rows(response) -> list[dict]:
    content = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(content)))


def test_csv_export_is_the_groups_events(two_groups, viewer_session):
    client = viewer_session("group-a")
    export = _export(client, name="Q1 report: all/any?")
    response = client.get(
        f"/viewer/v1/project/default/export/{export}/rendered?format=csv", HTTP_ACCEPT="text/csv"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="Q1_report_allany.csv"'
    assert "Content-Disposition" in response["Access-Control-Expose-Headers"]
    rows = _rows(response)
    # Newest first, no reads (showRead false), nothing of group B or the other project.
    assert [row["action"] for row in rows] == ["a.delete", "a.update", "a.create"]
    first = rows[0]
    assert first["created"] == (BASE_TIME + timedelta(3)).strftime("%Y-%m-%d %H:%M:%S")
    assert first["actor_name"] == "Jane Doe" and "actor_id" not in first
    assert first["group"] == '{"id":"group-a"}'
    assert first["is_failure"] == ""
    # Group B's viewer cannot render group A's export.
    other = viewer_session("group-b")
    response = other.get(f"/viewer/v1/project/default/export/{export}/rendered")
    assert response.status_code == 404
    assert AuditEvent.objects.filter(
        action="audit.log.view", description="Exported the audit log (Q1 report: all/any?)"
    ).exists()


def test_csv_export_with_the_jwt_in_the_query(two_groups, viewer_session):
    client = viewer_session("group-a")
    export = _export(client)
    response = APIClient().get(
        f"/viewer/v1/project/default/export/{export}/rendered", {"jwt": client.jwt}
    )
    assert response.status_code == 200
    assert len(_rows(response)) == 3
    # Only the download reads ?jwt=; elsewhere it is no credential.
    response = APIClient().get("/viewer/v1/project/default/exports", {"jwt": client.jwt})
    assert response.status_code == 401


def test_csv_export_applies_query_crud_and_time_range(two_groups, viewer_session):
    client = viewer_session("group-a")
    export = _export(
        client, {**EXPORT_BODY, "searchQuery": "action:a.*", "showRead": True, "showCreate": False}
    )
    rows = _rows(client.get(f"/viewer/v1/project/default/export/{export}/rendered"))
    assert [row["action"] for row in rows] == ["a.delete", "a.update", "a.read"]
    future = int((datetime.now(UTC) + timedelta(days=1)).timestamp() * 1000)
    export = _export(client, {**EXPORT_BODY, "startTime": future})
    response = client.get(f"/viewer/v1/project/default/export/{export}/rendered")
    assert response.status_code == 404
    assert response.json() == {"error": "No results found"}


def test_csv_export_of_a_target_scoped_viewer_keeps_to_its_target(two_groups, viewer_session):
    client = viewer_session("group-a", target_id="t1")
    export = _export(client)
    rows = _rows(client.get(f"/viewer/v1/project/default/export/{export}/rendered"))
    assert [row["action"] for row in rows] == ["a.create"]


def test_csv_export_is_cut_at_its_cap_and_says_so(two_groups, viewer_session, settings):
    settings.RETRACED_EXPORT_MAX_ROWS = 2
    client = viewer_session("group-a")
    response = client.get(f"/viewer/v1/project/default/export/{_export(client)}/rendered")
    assert response["X-Retraced-Export-Truncated"] == "2"
    assert [row["action"] for row in _rows(response)] == ["a.delete", "a.update"]


def test_csv_export_bad_input(two_groups, viewer_session):
    client = viewer_session("group-a")
    export = _export(client, {**EXPORT_BODY, "searchQuery": 'action:"open'})
    response = client.get(f"/viewer/v1/project/default/export/{export}/rendered")
    assert response.status_code == 400 and response.json()["type"] == "Error"
    response = client.get(f"/viewer/v1/project/default/export/{export}/rendered?format=pdf")
    assert response.status_code == 400
    response = client.get("/viewer/v1/project/default/export/nope/rendered")
    assert response.status_code == 404


# --- Enterprise GraphQL and active searches ------------------------------------------------


def test_enterprise_graphql_sees_only_its_group_reads_included(two_groups, enterprise_client):
    client = enterprise_client("group-a")
    found = _search(client, path="/enterprise/v1/graphql")
    assert _actions(found) == {"a.create", "a.read", "a.update", "a.delete"}
    view = AuditEvent.objects.get(actor_id=f"enterprise:{client.token.id[:7]}")
    assert (view.action, view.crud, view.actor_name, view.group_id) == (
        "audit.log.view",
        "r",
        "SIEM",
        "group-a",
    )
    other = enterprise_client("group-b")
    assert _actions(_search(other, path="/enterprise/v1/graphql")) == {"b.secret"}


def test_enterprise_graphql_refuses_viewer_sessions_and_api_tokens(two_groups, viewer_session):
    client = viewer_session("group-a")
    response = client.post("/enterprise/v1/graphql", {"query": SEARCH}, format="json")
    assert response.status_code == 401


def _active(client, **saved) -> str:
    saved_id = client.post(
        "/enterprise/v1/search/saved", {"name": "pull", **saved}, format="json"
    ).json()["id"]
    return client.post(
        "/enterprise/v1/search/active", {"saved_search_id": saved_id}, format="json"
    ).json()["id"]


def test_active_search_pages_oldest_first_and_resumes(tenancy, enterprise_client):
    for minute in range(5):
        _event("group-a", f"e{minute}", created_at=BASE_TIME + timedelta(minutes=minute))
    # Two events in the same instant: neither is skipped nor repeated across pages.
    _event("group-a", "e5a", created_at=BASE_TIME + timedelta(minutes=5))
    _event("group-a", "e5b", created_at=BASE_TIME + timedelta(minutes=5))
    _event("group-b", "b.secret", created_at=BASE_TIME)
    client = enterprise_client("group-a")
    active = _active(client)
    url = f"/enterprise/v1/search/active/{active}"
    seen = []
    page = client.get(url, {"page_size": 3}).json()
    for _ in range(5):  # three pages, then an empty one
        if not page["events"]:
            break
        seen += [event["action"] for event in page["events"]]
        page = client.get(url, {"page_size": 3, "next": page["next"]}).json()
    assert seen == ["e0", "e1", "e2", "e3", "e4", "e5a", "e5b"]
    assert "next" not in page


def test_active_search_filters_and_stale_next(tenancy, enterprise_client):
    _event("group-a", "user.login", actor_id="u1", created_at=BASE_TIME)
    _event("group-a", "user.logout", actor_id="u1", created_at=BASE_TIME + timedelta(1))
    _event("group-a", "user.login", actor_id="u2", created_at=BASE_TIME + timedelta(2))
    _event("group-a", "user.login", actor_id="u1", created_at=BASE_TIME - timedelta(1))
    client = enterprise_client("group-a")
    active = _active(client, actions=["user.login"], actor_ids=["u1"], start=BASE_TIME.isoformat())
    url = f"/enterprise/v1/search/active/{active}"
    first = client.get(url).json()
    assert [e["actor"]["id"] for e in first["events"]] == ["u1"]
    assert first["events"][0]["action"] == "user.login"
    second = client.get(url, {"next": first["next"]}).json()
    assert second == {"events": []}
    # No new events: no new `next`, the old one still resumes; a made-up one is 404.
    assert client.get(url, {"next": first["next"]}).json() == {"events": []}
    assert client.get(url, {"next": "0" * 32}).status_code == 404
    assert client.get(url, {"page_size": 0}).status_code == 400
    assert client.get(url, {"page_size": "x"}).status_code == 400
    assert client.get(url, {"page_size": 1000}).status_code == 200


def test_active_search_of_another_group_is_404(tenancy, enterprise_client):
    _event("group-a", "a.secret", created_at=BASE_TIME)
    a = enterprise_client("group-a")
    b = enterprise_client("group-b")
    active = _active(a)
    response = b.get(f"/enterprise/v1/search/active/{active}")
    assert response.status_code == 404
    assert "a.secret" not in response.content.decode()


def test_active_search_use_is_recorded(tenancy, enterprise_client):
    client = enterprise_client("group-a")
    active = _active(client)
    client.get(f"/enterprise/v1/search/active/{active}?page_size=5")
    event = AuditEvent.objects.get(actor_id=f"enterprise:{client.token.id[:7]}")
    assert event.description == f"GET /enterprise/v1/search/active/{active}?page_size=5"


def test_csv_export_keeps_formula_text_as_text(tenancy, viewer_session):
    # A spreadsheet would run these; the customer opening the file must see them as text.
    _event("group-a", "a.create", actor_name='=HYPERLINK("http://x")', description="+1-2")
    client = viewer_session("group-a")
    export = _export(client)
    response = client.get(f"/viewer/v1/project/default/export/{export}/rendered")
    [row] = _rows(response)
    assert row["actor_name"] == '\'=HYPERLINK("http://x")'
    assert row["description"] == "'+1-2"
    assert row["action"] == "a.create"


# --- totalCount from the scope counters ---------------------------------------------------


@pytest.mark.parametrize(
    "query", ["", "crud:c,u,d", "crud:cud", "-crud:r", "crud:r", "crud:c -crud:c"]
)
def test_total_count_from_the_scope_counters_is_the_exact_count(
    two_groups, viewer_session, publisher, enterprise_client, query
):
    """The counters (rolled up), the tail after them and the pending events add up to what a
    COUNT of the same search finds, in every kind of scope."""
    from audits.chain import chain_link_pending
    from audits.counters import audit_counts_roll_up
    from audits.retraced.search import SearchScope, retraced_events_search

    chain_link_pending()  # the factory stores events pending, as single-event ingest
    audit_counts_roll_up()
    _event("group-a", "a.late", crud="c", target_id="t1")
    chain_link_pending()  # linked, after the watermark
    pending = _event("group-a", "a.pending", crud="u", target_id="t2")
    assert pending.seq is None
    assert AuditEvent.objects.filter(action="a.late", seq__isnull=False).exists()
    scopes = {
        "viewer": SearchScope("default", "production", "group-a", hide_reads=True),
        "target viewer": SearchScope("default", "production", "group-a", "t1", hide_reads=True),
        "enterprise": SearchScope("default", "production", "group-a"),
        "publisher": SearchScope("default", "production"),
    }
    clients = {
        "viewer": (viewer_session("group-a"), "/viewer/v1/graphql"),
        "target viewer": (viewer_session("group-a", target_id="t1"), "/viewer/v1/graphql"),
        "enterprise": (enterprise_client("group-a"), "/enterprise/v1/graphql"),
        "publisher": (publisher, "/publisher/v1/project/default/graphql"),
    }
    for _ in range(2):  # before and after the next roll-up
        for name, (client, path) in clients.items():
            exact = retraced_events_search(scopes[name], query).count()
            assert _search(client, query, path=path)["totalCount"] == exact, (name, query)
        chain_link_pending()
        audit_counts_roll_up()
