"""Retraced's GraphQL `search`: paging both ways, the Event node, errors and the DoS guard."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from audits.models import AuditEvent, Environment, Project
from audits.retraced.graphql import (
    MAX_DEPTH,
    MAX_DOCUMENT_CHARS,
    SearchScope,
    cursor_decode,
    cursor_encode,
    event_node,
    graphql_execute,
)
from audits.retraced.tests.factories import BASE_TIME, events_over_time, retraced_event
from integration_site.services import api_token_create

SCOPE = SearchScope(project="default", environment="production", group_id="acme")
# What retraced-js `query` sends (graphQLQuery with a mask of every field it knows).
RETRACED_JS_QUERY = """query Search($query: String!, $last: Int, $before: String) {
  search(query: $query, last: $last, before: $before) {
    totalCount,
    pageInfo {
      hasPreviousPage
    }
    edges {
      cursor
      node {
        id
        action
        description
        group { id name }
        actor { id name href fields { key value } }
        target { id name href type fields { key value } }
        crud
        display { markdown }
        received
        created
        canonical_time
        is_failure
        is_anonymous
        country
        loc_subdiv1
        loc_subdiv2
        component
        version
        fields { key value }
        external_id
        metadata { key value }
      }
    }
  }
}"""
FORWARD_QUERY = """query ($query: String, $first: Int, $after: String) {
  search(query: $query, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage } edges { cursor node { id action } }
  }
}"""


def run(document: str, scope: SearchScope = SCOPE, **variables) -> tuple[dict, int]:
    return graphql_execute(query=document, variables=variables, operation_name=None, scope=scope)


def search(document: str, **variables) -> dict:
    body, status = run(document, **variables)
    assert status == 200, body
    return body["data"]["search"]


@pytest.fixture
def acme_events(db) -> list[AuditEvent]:
    """Seven acme events a minute apart, two of them in the same millisecond."""
    events = events_over_time(6, action="doc.edit", group_id="acme", group_name="Acme")
    twin = events[3].created_at
    events.append(retraced_event(action="doc.edit", group_id="acme", created_at=twin))
    retraced_event(action="doc.edit", group_id="globex")  # another group: never seen
    return sorted(events, key=lambda event: (event.created_at, event.pk))


def ids(events) -> list[str]:
    return [str(event.pk) for event in events]


def test_last_and_before_page_backwards_as_retraced_js_does(acme_events):
    seen, cursor, pages = [], "", 0
    while True:
        page = search(RETRACED_JS_QUERY, query="action:doc.edit", last=3, before=cursor)
        pages += 1
        assert page["totalCount"] == 7
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        cursor = page["edges"][-1]["cursor"]
    assert pages == 3
    assert seen == ids(reversed(acme_events))  # newest first, each once


def test_paging_back_keeps_the_first_pages_count_while_events_arrive(acme_events):
    first = search(RETRACED_JS_QUERY, query="action:doc.edit", last=3, before="")
    assert first["totalCount"] == 7
    # Newer events than the first page's: not on the walk's later pages, and not in its
    # count, which retraced-js's EventsConnection pages by.
    events_over_time(2, action="doc.edit", group_id="acme", start=BASE_TIME + timedelta(days=1))
    seen, cursor, pages = [e["node"]["id"] for e in first["edges"]], first["edges"][-1], 1
    while True:
        page = search(RETRACED_JS_QUERY, query="action:doc.edit", last=3, before=cursor["cursor"])
        pages += 1
        assert page["totalCount"] == 7  # pinned: not counted again
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        cursor = page["edges"][-1]
    assert pages == 3 == -(-first["totalCount"] // 3)  # retraced-js's totalPages
    assert seen == ids(reversed(acme_events))
    # A new walk counts again.
    assert search(RETRACED_JS_QUERY, query="action:doc.edit", last=3)["totalCount"] == 9


def test_a_cursor_without_a_count_is_counted_again(acme_events):
    # A cursor issued before counts were carried in it, or by a search without totalCount.
    before = cursor_encode(acme_events[-1])
    assert base64.b64decode(before).decode().count(",") == 1
    page = search(RETRACED_JS_QUERY, query="action:doc.edit", last=3, before=before)
    assert page["totalCount"] == 7
    uncounted = search("{ search(last: 2) { edges { cursor } } }")
    assert base64.b64decode(uncounted["edges"][0]["cursor"]).decode().count(",") == 1


def test_paging_forward_counts_each_page_again(acme_events):
    first = search(FORWARD_QUERY, first=2)
    assert first["totalCount"] == 7
    events_over_time(1, action="doc.edit", group_id="acme", start=BASE_TIME + timedelta(days=1))
    after = first["edges"][-1]["cursor"]
    assert search(FORWARD_QUERY, first=2, after=after)["totalCount"] == 8


def test_first_and_after_page_forwards(acme_events):
    seen, after, pages = [], None, []
    while True:
        page = search(FORWARD_QUERY, first=2, after=after)
        pages.append(page["pageInfo"])
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["edges"][-1]["cursor"]
    assert seen == ids(acme_events)  # oldest first, each once
    assert len(pages) == 4
    assert all(not info["hasPreviousPage"] for info in pages)


def test_default_page_is_twenty(db):
    events_over_time(25, group_id="acme")
    page = search(FORWARD_QUERY)
    assert len(page["edges"]) == 20
    assert page["totalCount"] == 25
    assert page["pageInfo"]["hasNextPage"] is True


def test_cursor_is_retraced_shaped_and_exact_below_a_millisecond(db):
    at = datetime.fromtimestamp(1510872807, tz=UTC)  # Retraced's docs' example cursor time
    event = retraced_event(created_at=at + timedelta(milliseconds=13))
    assert base64.b64decode(cursor_encode(event)).decode() == f"1510872807013,{event.pk}"
    precise = retraced_event(created_at=at + timedelta(microseconds=13456))
    text = base64.b64decode(cursor_encode(precise)).decode()
    assert text == f"1510872807013.456,{precise.pk}"
    assert cursor_decode(cursor_encode(precise)) == (precise.created_at, precise.pk, None)
    assert cursor_decode(cursor_encode(precise, count=7)) == (precise.created_at, precise.pk, 7)


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        base64.b64encode(b"abc,1").decode(),
        base64.b64encode(b"1510872807013,f378").decode(),
        base64.b64encode(b"1510872807013,9999999999999999999").decode(),
        base64.b64encode(b"999999999999999,1").decode(),
        base64.b64encode(b"1510872807013,1,2147483648").decode(),  # past GraphQL's Int
        base64.b64encode(b"\xff\xfe").decode(),
    ],
)
def test_bad_cursor_is_a_400_with_errors(db, cursor):
    body, status = run(FORWARD_QUERY, after=cursor)
    assert status == 400
    assert body["errors"][0]["message"] == "Invalid cursor"
    assert body["data"] == {"search": None}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"first": 2, "last": 2}, "Arguments 'first' and 'last' are exclusive"),
        ({"before": "eA==", "after": "eA=="}, "Arguments 'before' and 'after' are exclusive"),
        ({"first": 501}, "Argument 'first' must be between 1 and 500 (got 501)"),
        ({"last": -1}, "Argument 'last' must be between 1 and 500 (got -1)"),
        ({"query": "colour:red"}, "Unknown search keyword 'colour'"),
    ],
)
def test_bad_arguments_are_400s_naming_the_problem(db, variables, message):
    query = """query ($query: String, $first: Int, $last: Int, $after: String, $before: String) {
      search(query: $query, first: $first, last: $last, after: $after, before: $before) {
        totalCount
      }
    }"""
    body, status = run(query, **variables)
    assert status == 400
    assert message in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ search { nope } }", "Cannot query field 'nope' on type 'SearchQueryResult'."),
        ("{ search { totalCount ", "Syntax Error"),
        ("", "Must provide a query string"),
        ("mutation { search { totalCount } }", "The mutation operation is not supported"),
        ("{ search { totalCount totalCount } }", "Duplicate field SearchQueryResult.totalCount."),
        ("{ a: search { totalCount } b: search { totalCount } }", "Duplicate field Query.search."),
        ("{ search { n: totalCount totalCount } }", "Duplicate field SearchQueryResult.totalCount"),
        (
            "{ search { edges { node { actor { fields { key key } } } } } }",
            "Duplicate field Actor.fields:Field.key.",
        ),
        ("{ search { totalCount } }" + " " * MAX_DOCUMENT_CHARS, "longer than 20000 characters"),
        (
            "{ search { ...A } } fragment A on SearchQueryResult { totalCount } "
            "fragment B on SearchQueryResult { ...A }",
            "Fragment 'B' is never used.",
        ),
    ],
)
def test_bad_queries_are_400s_with_errors(db, query, message):
    body, status = run(query)
    assert status == 400
    assert "data" not in body or body["data"] is None
    assert message in " ".join(error["message"] for error in body["errors"])


def test_depth_is_bounded(db):
    deep = "{ search { edges { node { actor { fields { key } } } } } }"
    assert run(deep)[1] == 200
    too_deep = "query { " + "a: search { " * (MAX_DEPTH + 1) + "}" * (MAX_DEPTH + 2)
    body, status = run(too_deep)
    assert status == 400
    assert any(f"deeper than {MAX_DEPTH}" in error["message"] for error in body["errors"])


def test_fields_and_metadata_key_values_are_not_duplicates(db):
    """logs-viewer asks for fields and metadata, both of type [Field]."""
    retraced_event(group_id="acme", fields={"a": "1"}, metadata={"b": "2"})
    query = (
        "{ search { edges { node { fields { key value } metadata { key value } "
        "actor { fields { key value } } target { fields { key value } } } } } }"
    )
    body, status = run(query)
    assert status == 200, body
    node = body["data"]["search"]["edges"][0]["node"]
    assert node["fields"] == [{"key": "a", "value": "1"}]
    assert node["metadata"] == [{"key": "b", "value": "2"}]
    assert node["target"] is None


def test_event_node_carries_every_retraced_field(db):
    event = retraced_event(
        retraced_id="f378b09d5d2e4ed7a30a2e1c9b6f0f4e",
        receipt_hash="ab" * 32,
        action="document.share",
        crud="u",
        description="Shared <it>",
        group_id="acme",
        group_name="Acme",
        actor_id="u1",
        actor_name="Jane & Co",
        actor_href="https://x/u1",
        actor_fields={"dept": "ops"},
        target_id="doc-1",
        target_name="Report",
        target_href="https://x/doc-1",
        target_type="document",
        target_fields={"size": "3"},
        remote_address="192.0.2.1",
        is_failure=True,
        component="web",
        component_version="abc123",
        fields={"k": "v", "n": 3},
        metadata={"m": "1"},
        external_id="ext-1",
        created_at=datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC),
    )
    node = event_node(event)
    assert node | {"raw": None, "received": None} == {
        "id": "f378b09d5d2e4ed7a30a2e1c9b6f0f4e",
        "action": "document.share",
        "description": "Shared <it>",
        "group": {"id": "acme", "name": "Acme"},
        "actor": {
            "id": "u1",
            "name": "Jane & Co",
            "href": "https://x/u1",
            "fields": [{"key": "dept", "value": "ops"}],
        },
        "target": {
            "id": "doc-1",
            "name": "Report",
            "href": "https://x/doc-1",
            "type": "document",
            "fields": [{"key": "size", "value": "3"}],
        },
        "crud": "u",
        "display": {
            "markdown": "**Jane &amp; Co** performed the action **document.share** on the item "
            "**Report**."
        },
        "received": None,
        "created": "2024-05-01T12:00:00Z",
        "canonical_time": "2024-05-01T12:00:00Z",
        "is_failure": True,
        "is_anonymous": False,
        "source_ip": "192.0.2.1",
        "country": None,
        "loc_subdiv1": None,
        "loc_subdiv2": None,
        "component": "web",
        "version": "abc123",
        "fields": [{"key": "k", "value": "v"}, {"key": "n", "value": "3"}],
        "raw": None,
        "external_id": "ext-1",
        "metadata": [{"key": "m", "value": "1"}],
    }
    raw = json.loads(node["raw"])
    assert raw["action"] == "document.share"
    assert raw["group"] == {"id": "acme", "name": "Acme"}
    assert raw["created"] == "2024-05-01T12:00:00.123000Z"


def test_site_events_without_a_retraced_id_render(db):
    """The site's own trail: no retraced id, no crud, no group, a user actor."""
    event = AuditEvent.objects.create(
        source="site", actor_type="User", actor_name="admin", action="license.update"
    )
    scope = SearchScope(project="default", environment="production")
    body, status = run(RETRACED_JS_QUERY, scope, query="action:license.update", last=5)
    assert status == 200, body
    node = body["data"]["search"]["edges"][0]["node"]
    assert node["id"] == str(event.pk)
    assert node["crud"] is None
    assert node["group"] is None
    assert node["actor"] == {"id": None, "name": "admin", "href": None, "fields": []}
    assert node["display"]["markdown"] == "**admin** performed the action **license.update**."


def test_total_count_is_not_computed_unless_asked(acme_events, django_assert_num_queries):
    with django_assert_num_queries(2):  # the page's ids, then its rows
        page = search("{ search(first: 2) { pageInfo { hasNextPage } edges { cursor } } }")
    assert page["pageInfo"]["hasNextPage"] is True


# --- The publisher routes ------------------------------------------------------------------


TOKEN_NAMES = iter(range(1000))


def client_for(project: str = "default", environment: str = "production") -> APIClient:
    if project != "default":
        Project.objects.get_or_create(pk=project, defaults={"name": project})
        Environment.objects.get_or_create(
            project_id=project, slug=environment, defaults={"name": environment}
        )
    _, secret = api_token_create(
        name=f"reader-{next(TOKEN_NAMES)}",
        scopes=["audit:read"],
        project=project,
        environment=environment,
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token={secret}")
    return client


ALL_IDS = "{ search(last: 50) { totalCount edges { node { id external_id } } } }"


def test_publisher_graphql_post_searches_the_tokens_project_only(db):
    retraced_event(external_id="mine")
    retraced_event(external_id="theirs", project="other")
    response = client_for().post(
        "/publisher/v1/project/default/graphql",
        {"query": ALL_IDS, "variables": {}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response["X-Retraced-RequestId"]
    externals = {edge["node"]["external_id"] for edge in response.json()["data"]["search"]["edges"]}
    assert "mine" in externals
    assert "theirs" not in externals

    other = client_for("other").post("/publisher/v1/graphql", {"query": ALL_IDS}, format="json")
    assert [edge["node"]["external_id"] for edge in other.json()["data"]["search"]["edges"]] == [
        "theirs"
    ]


def test_publisher_graphql_token_of_another_project_gets_401(db):
    response = client_for("other").post(
        "/publisher/v1/project/default/graphql", {"query": ALL_IDS}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["type"] == "Error"


def test_publisher_graphql_needs_audit_read(db):
    _, secret = api_token_create(name="writer", scopes=["audit:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token token={secret}")
    response = client.post("/publisher/v1/graphql", {"query": ALL_IDS}, format="json")
    assert response.status_code == 403
    assert APIClient().post("/publisher/v1/graphql", {"query": ALL_IDS}).status_code == 401


def test_publisher_graphql_get_takes_query_and_variables(db):
    retraced_event(external_id="one", action="a.b")
    query = "query ($q: String) { search(query: $q) { totalCount } }"
    response = client_for().get(
        "/publisher/v1/project/default/graphql",
        {"query": query, "variables": json.dumps({"q": "action:a.b"})},
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"data": {"search": {"totalCount": 1}}}


def test_publisher_graphql_bad_query_is_400_with_errors(db):
    response = client_for().post(
        "/publisher/v1/project/default/graphql", {"query": "{ search { nope } }"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith("Cannot query field 'nope'")
    missing = client_for().get("/publisher/v1/project/default/graphql")
    assert missing.status_code == 400
    assert missing.json() == {"errors": [{"message": "Must provide a query string (`query`)."}]}
    not_json = client_for().get("/publisher/v1/graphql", {"query": ALL_IDS, "variables": "{"})
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["error"]
    not_object = client_for().post("/publisher/v1/graphql", [1], format="json")
    assert not_object.status_code == 400
    assert "JSON object" in not_object.json()["error"]


def test_publisher_graphql_pages_over_http(db):
    events_over_time(5, group_id="acme", external_id="paged")
    client, cursor, seen = client_for(), "", []
    while True:
        response = client.post(
            "/publisher/v1/project/default/graphql",
            {
                "query": RETRACED_JS_QUERY,
                "variables": {"query": "external_id:paged", "last": 2, "before": cursor},
            },
            format="json",
        )
        search_result = response.json()["data"]["search"]
        assert search_result["totalCount"] == 5
        seen += [edge["node"]["created"] for edge in search_result["edges"]]
        if not search_result["pageInfo"]["hasPreviousPage"]:
            break
        cursor = search_result["edges"][-1]["cursor"]
    expected = [(BASE_TIME + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ") for m in range(5)]
    assert seen == expected[::-1]


# --- searchPaginated -----------------------------------------------------------------------

PAGINATED = """query ($query: String, $offset: Int, $limit: Int, $start: String, $order: sortOrder) {
  searchPaginated(
    query: $query, pageOffset: $offset, pageLimit: $limit, startCursor: $start, sortOrder: $order
  ) { totalCount edges { cursor node { id } } }
}"""


def paginated(**variables) -> dict:
    body, status = run(PAGINATED, **variables)
    assert status == 200, body
    return body["data"]["searchPaginated"]


def test_search_paginated_pages_by_offset_pinned_by_the_start_cursor(acme_events):
    first = paginated(limit=3)
    assert first["totalCount"] == 7
    newest = ids(reversed(acme_events))
    assert [edge["node"]["id"] for edge in first["edges"]] == newest[:3]
    start = first["edges"][0]["cursor"]
    assert base64.b64decode(start).decode().endswith(",7")
    # A newer event arrives: the pinned pages do not move and the count stays.
    retraced_event(action="doc.edit", group_id="acme", created_at=BASE_TIME + timedelta(days=1))
    pages = [paginated(limit=3, offset=offset, start=start) for offset in (0, 3, 6)]
    assert [page["totalCount"] for page in pages] == [7, 7, 7]
    assert [edge["node"]["id"] for page in pages for edge in page["edges"]] == newest
    assert paginated(limit=3, offset=9, start=start)["edges"] == []
    assert paginated(limit=3)["totalCount"] == 8


def test_search_paginated_ascending(acme_events):
    page = paginated(limit=10, order="asc", query="action:doc.edit")
    assert [edge["node"]["id"] for edge in page["edges"]] == ids(acme_events)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"offset": -1}, "'pageOffset' must be between 0 and 10000"),
        ({"offset": 10_001}, "'pageOffset' must be between 0 and 10000"),
        ({"limit": 501}, "'pageLimit' must be between 1 and 500"),
        ({"start": base64.b64encode(b"1,2").decode()}, "Invalid cursor"),
        ({"query": 'description:"x'}, "Unterminated quote"),
    ],
)
def test_search_paginated_bad_arguments(db, variables, message):
    body, status = run(PAGINATED, **variables)
    assert status == 400
    assert message in body["errors"][0]["message"]


def test_received_range_pages_are_sorted_after_filtering(db):
    """`received:` sorts the range's matches (SortedAfterFiltering), in the same order."""
    events = events_over_time(5, group_id="acme", external_id="ranged")
    received = "received:2000-01-01,2100-01-01"
    forward = search(FORWARD_QUERY, query=received, first=2)
    assert [edge["node"]["id"] for edge in forward["edges"]] == ids(events[:2])
    after = forward["edges"][-1]["cursor"]
    rest = search(FORWARD_QUERY, query=received, first=10, after=after)
    assert [edge["node"]["id"] for edge in rest["edges"]] == ids(events[2:])
    backward = search(RETRACED_JS_QUERY, query=received, last=2)
    assert [edge["node"]["id"] for edge in backward["edges"]] == ids(events[::-1][:2])


def test_an_event_posted_by_a_retraced_client_comes_back_as_it_was_sent(db):
    """The publisher's event, then the GraphQL search retraced-js runs: the same id, and the
    fields the client sent."""
    _, secret = api_token_create(name="rw", scopes=["audit:write", "audit:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token={secret}")
    sent = {
        "action": "document.share",
        "crud": "u",
        "group": {"id": "acme-corp", "name": "Acme Corp"},
        "actor": {"id": "user-1", "name": "Ada", "fields": {"dept": "ops"}},
        "target": {"id": "doc:7", "name": "Plan", "type": "document"},
        "source_ip": "192.0.2.7",
        "created": "2026-01-31T12:00:00.250Z",
        "fields": {"permission": "edit"},
        "metadata": {"trace": "abc"},
        "external_id": "ext-9",
        "component": "web",
        "version": "0a1b2c",
    }
    created = client.post("/publisher/v1/project/default/event", sent, format="json")
    assert created.status_code == 201, created.content
    response = client.post(
        "/publisher/v1/project/default/graphql",
        {
            "query": RETRACED_JS_QUERY,
            "variables": {"query": "actor.id:user-1 fields.permission:edit", "last": 5},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    (edge,) = response.json()["data"]["search"]["edges"]
    node = edge["node"]
    assert node["id"] == created.json()["id"]
    assert node["group"] == {"id": "acme-corp", "name": "Acme Corp"}
    assert node["actor"]["fields"] == [{"key": "dept", "value": "ops"}]
    assert node["target"]["type"] == "document"
    assert node["created"] == node["canonical_time"] == "2026-01-31T12:00:00Z"
    assert node["fields"] == [{"key": "permission", "value": "edit"}]
    assert node["metadata"] == [{"key": "trace", "value": "abc"}]
    assert (node["external_id"], node["component"], node["version"]) == ("ext-9", "web", "0a1b2c")
    assert base64.b64decode(edge["cursor"]).decode().startswith("1769860800250,")


# --- counts --------------------------------------------------------------------------------

COUNTS = """query ($type: String, $start: String, $end: String, $crud: String, $first: Int,
  $after: String) {
  counts(type: $type, startTime: $start, endTime: $end, crud: $crud, first: $first,
    after: $after) {
    totalCount pageInfo { hasNextPage }
    edges { count cursor node { ... on Action { action } ... on Group { id name } } }
  }
}"""


@pytest.fixture
def counted(db):
    for action, group, crud, count in [
        ("doc.view", "acme", "r", 3),
        ("doc.edit", "acme", "u", 2),
        ("doc.edit", "globex", "u", 1),
        ("doc.delete", "", "d", 1),
    ]:
        events_over_time(
            count,
            action=action,
            group_id=group,
            group_name=group.title(),
            crud=crud,
            project="counted",  # apart from the site's own events in the default project
        )


EVERYONE = SearchScope("counted", "production")


def counts_of(scope=SCOPE, **variables) -> dict:
    body, status = run(COUNTS, scope, **variables)
    assert status == 200, body
    return body["data"]["counts"]


def test_counts_by_action_most_first_and_paged(counted):
    result = counts_of(EVERYONE, type="action", first=2)
    assert result["totalCount"] == 3
    assert [(edge["node"]["action"], edge["count"]) for edge in result["edges"]] == [
        ("doc.edit", 3),  # a tie: by name
        ("doc.view", 3),
    ]
    assert result["pageInfo"]["hasNextPage"] is True
    rest = counts_of(EVERYONE, type="action", first=50, after=result["edges"][-1]["cursor"])
    assert [(edge["node"]["action"], edge["count"]) for edge in rest["edges"]] == [
        ("doc.delete", 1)
    ]
    assert rest["pageInfo"]["hasNextPage"] is False


def test_counts_by_group_within_the_scope_and_crud(counted):
    by_group = counts_of(EVERYONE, type="group", crud="cud")
    assert by_group["totalCount"] == 2
    assert [(edge["node"], edge["count"]) for edge in by_group["edges"]] == [
        ({"id": "acme", "name": "Acme"}, 2),
        ({"id": "globex", "name": "Globex"}, 1),
    ]
    viewer = counts_of(SearchScope("counted", "production", "acme"), type="action")
    assert {(edge["node"]["action"], edge["count"]) for edge in viewer["edges"]} == {
        ("doc.view", 3),
        ("doc.edit", 2),
    }
    # From 30 s on: acme's views at 1 and 2 minutes and its edit at 1 minute; globex's none.
    later = (BASE_TIME + timedelta(seconds=30)).isoformat()
    late = counts_of(EVERYONE, type="group", start=later)["edges"]
    assert [(edge["node"]["id"], edge["count"]) for edge in late] == [("acme", 3)]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"type": "actor"}, "Invalid type"),
        ({"type": "action", "crud": "cx"}, "Invalid crud"),
        ({"type": "action", "start": "soon"}, "Invalid startTime"),
        ({"type": "action", "after": "eA=="}, "Invalid cursor"),
        ({"type": "action", "first": 501}, "Argument 'first' must be between 0 and 500"),
    ],
)
def test_counts_bad_arguments(db, variables, message):
    body, status = run(COUNTS, **variables)
    assert status == 400
    assert body["errors"][0]["message"] == message or message in body["errors"][0]["message"]
