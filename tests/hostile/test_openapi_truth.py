"""
The OpenAPI schema (/api/schema/) tells the truth: every route of the URLconf is in it, and
what each GET answers (status and body) is what the schema declares for it.
"""

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver

from monitoring.services import silence_create, stash_create
from monitoring.tests.fixtures import make_event

# Values for the path parameters, naming the seeded objects (unknown ones answer a 404,
# which the schema must declare too).
PATH_VALUES = {
    "client": "i-424242",
    "check": "chef_client_process",
    "name": "web",
    "severity": "warning",
    "subscription": "webserver",
    "silence_id": "webserver:chef_client_process",
    "path": "deploy/1",
    "language": "en",
}
# Query strings some routes need to answer their success.
QUERIES = {"/api/audits/auto_complete_search": {"search": "a"}}
NOT_API = ("admin/", "api/schema/", "api/docs/", "favicon.ico", "")


@pytest.fixture
def schema(admin_client_api) -> dict[str, Any]:
    response = admin_client_api.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


@pytest.fixture
def monitoring_state(db):
    make_event(status=1, aggregate="web")
    silence_create(subscription="webserver", check="chef_client_process")
    stash_create(path="deploy/1", content={"by": "ci"})


def _json_schema(node: Any, components: dict[str, Any]) -> Any:
    """OpenAPI 3.0 -> JSON Schema: inline the component $refs, `nullable` as a null type."""
    if isinstance(node, list):
        return [_json_schema(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    out = {k: _json_schema(v, components) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _patterns(resolvers, prefix=""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _as_openapi_path(route: str) -> str:
    """`^clients/(?P<client>[\\w.-]+)$` or `api/x/<int:id>` -> `/clients/{client}`."""
    route = route.replace("^", "").replace("$", "")
    route = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", r"{\1}", route)
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    # drf-spectacular names a router's `pk` after the model field (SCHEMA_COERCE_PATH_PK).
    return "/" + route.replace("{pk}", "{id}").replace("\\.", ".")


def test_every_api_route_is_in_the_schema(schema):
    documented = set(schema["paths"])
    missing = []
    for route, pattern in _patterns(get_resolver().url_patterns):
        if route in NOT_API or route.startswith(NOT_API[:3]):
            continue
        if getattr(pattern.callback, "cls", None) is None:
            continue  # not an API view
        if "{format}" in _as_openapi_path(route) or "(?P<format>" in route:
            continue  # DRF's format-suffix twins of documented routes
        path = _as_openapi_path(route).rstrip("/") or "/"
        if path not in documented:
            missing.append((route, path))
    assert missing == [], "\n".join(map(str, missing))


def _operations(schema, method):
    for path, operations in schema["paths"].items():
        if method in operations:
            yield path, operations[method]


@pytest.mark.usefixtures("monitoring_state")
def test_every_get_answers_what_the_schema_declares(schema, admin_client_api):
    components = schema["components"]["schemas"]
    checked, wrong = [], []
    for path, operation in _operations(schema, "get"):
        url = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "1"), path)
        response = admin_client_api.get(url, QUERIES.get(path, {}))
        declared = operation["responses"]
        status = str(response.status_code)
        if status not in declared:
            wrong.append((path, status, "undeclared status"))
            continue
        media_type = response.get("Content-Type", "").split(";")[0]
        content = declared[status].get("content", {}).get(media_type)
        if media_type != "application/json":
            if response.content and content is None:
                wrong.append((path, status, f"undeclared {media_type}"))
            continue
        if content is None:
            if response.content:
                wrong.append((path, status, "declared no body"))
            continue
        body = response.json()
        try:
            jsonschema.validate(body, _json_schema(content["schema"], components))
        except jsonschema.ValidationError as exc:
            wrong.append((path, status, exc.message[:120]))
            continue
        checked.append((path, status, type(body).__name__))
    assert wrong == [], "\n".join(map(str, wrong))
    # The list routes did answer their success (seeded), so their arrays were checked.
    for path in ("/events", "/clients", "/checks", "/results", "/silenced", "/stashes"):
        assert (path, "200", "list") in checked
    assert ("/stashes/{path}", "200", "dict") in checked
    assert ("/aggregates/{name}/clients", "200", "list") in checked


def test_peer_bodies_declare_their_required_fields(schema):
    body = schema["paths"]["/results"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"]["required"] == ["name", "output"]
    for path in ("/clients", "/stashes", "/silenced", "/resolve", "/request"):
        assert schema["paths"][path]["post"]["requestBody"]["required"] is True


def test_every_operation_declares_its_errors(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "503"} <= codes, (method, path)
            if operation.get("security") and {} not in operation["security"]:
                assert {"401", "403"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if "requestBody" in operation:
                assert {"413", "415"} <= codes, (method, path)
            if method in ("post", "put", "patch", "delete"):
                assert "507" in codes, (method, path)


def test_an_unknown_taxonomy_context_answers_its_declared_404(schema, admin_client_api):
    # schemathesis found this one: the audit list scopes to a location or organization by
    # id, and answers 404 for one that does not exist (as Foreman does).
    for param in ("location_id", "organization_id"):
        response = admin_client_api.get("/api/audits", {param: "0.0"})
        assert response.status_code == 404
        assert _declared(schema, "get", "/api/audits", response) is None, param


def _request_schema(schema, method, path) -> dict:
    body = schema["paths"][path][method]["requestBody"]["content"]["application/json"]
    return _json_schema(body["schema"], schema["components"]["schemas"])


@pytest.mark.usefixtures("monitoring_state")
def test_what_the_site_refuses_the_schema_refuses_too(schema, admin_client_api):
    # schemathesis's "schema-valid request refused": blank strings (DRF trims, then refuses
    # them), the aggregate severity outside Sensu's four, an empty console option name. Each
    # is refused by the site and now by the schema; a real value is accepted by both.
    blank = {"bookmark": {"name": "   ", "controller": "audits", "query": "action = create"}}
    fine = {"bookmark": {"name": "failures", "controller": "audits", "query": "action = create"}}
    body_schema = _request_schema(schema, "post", "/api/bookmarks")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(blank, body_schema)
    jsonschema.validate(fine, body_schema)
    # Foreman answers a record it cannot save 422.
    assert admin_client_api.post("/api/bookmarks", blank, format="json").status_code == 422
    assert admin_client_api.post("/api/bookmarks", fine, format="json").status_code == 201

    parameters = schema["paths"]["/aggregates/{name}/results/{severity}"]["get"]["parameters"]
    (severity,) = [p for p in parameters if p["name"] == "severity"]
    assert "bogus" not in severity["schema"]["enum"]
    assert admin_client_api.get("/aggregates/web/results/bogus").status_code == 400
    for value in severity["schema"]["enum"]:
        assert admin_client_api.get(f"/aggregates/web/results/{value}").status_code == 200

    login = {"username": "ann", "password": "secret", "remote_address": "0"}
    login_schema = _request_schema(schema, "post", "/identity/v1/login")
    formats = jsonschema.FormatChecker()  # formats are checked only when asked (as schemathesis)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(login, login_schema, format_checker=formats)
    jsonschema.validate(
        {**login, "remote_address": "2001:db8::1"}, login_schema, format_checker=formats
    )
    refused = admin_client_api.post("/identity/v1/login", login, format="json")
    assert refused.status_code == 400 and "remote_address" in refused.json()["errors"]

    (name,) = schema["paths"]["/console/v1/option"]["get"]["parameters"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(" ", name["schema"])
    assert admin_client_api.get("/console/v1/option", {"name": " "}).status_code == 400


def _declared(schema, method, path, response) -> str | None:
    """What is wrong with `response` as the schema's answer to `method path`, if anything."""
    declared = schema["paths"][path][method]["responses"]
    status = str(response.status_code)
    if status not in declared:
        return f"undeclared status {status}"
    content = declared[status].get("content", {}).get("application/json")
    if content is None:
        return f"declared no body, got {response.content[:80]!r}" if response.content else None
    components = schema["components"]["schemas"]
    try:
        jsonschema.validate(response.json(), _json_schema(content["schema"], components))
    except jsonschema.ValidationError as exc:
        return exc.message[:120]
    return None


LOGIN = {"name": "user.login", "action": "user.login.success", "ip_address": "192.0.2.1"}
RETRACED_LOGIN = {"action": "user.login", "crud": "c", "actor": {"id": "u-1"}}
PUBLISH = "/publisher/v1/project/{project_id}/event"
GRAPHQL = "/publisher/v1/project/{project_id}/graphql"
SEARCH = '{ search(query: "action:user.*", last: 5) { totalCount edges { cursor node { id } } } }'
WRITES = [
    ("post", "/clients", "/clients", {"name": "web-2", "address": "10.0.0.2"}),
    ("post", "/results", "/results", {"name": "disk", "output": "OK", "status": 0}),
    ("post", "/silenced", "/silenced", {"check": "disk"}),
    ("post", "/silenced/clear", "/silenced/clear", {"check": "disk"}),
    ("post", "/stashes", "/stashes", {"path": "a/b", "content": {"x": 1}}),
    ("post", "/stash/{path}", "/stash/c/d", {"y": 2}),
    ("post", "/stashes/{path}", "/stashes/e/f", {"z": 3}),
    ("post", "/request", "/request", {"check": "chef_client_process"}),
    ("post", "/resolve", "/resolve", {"client": "i-424242", "check": "chef_client_process"}),
    ("delete", "/stash/{path}", "/stash/c/d", None),
    ("delete", "/stashes/{path}", "/stashes/e/f", None),
    ("delete", "/results/{client}/{check}", "/results/i-424242/chef_client_process", None),
    ("delete", "/checks/{check}", "/checks/chef_client_process", None),
    ("delete", "/events/{client}/{check}", "/events/i-424242/chef_client_process", None),
    ("delete", "/aggregates/{name}", "/aggregates/web", None),
    ("delete", "/clients/{client}", "/clients/i-424242", None),
    ("post", "/clients", "/clients", {"address": "no name"}),
    ("post", "/audit/v1/event", "/audit/v1/event", LOGIN),
    ("post", "/audit/v1/event/bulk", "/audit/v1/event/bulk", {"events": [LOGIN, LOGIN]}),
    ("post", PUBLISH, "/publisher/v1/project/default/event", RETRACED_LOGIN),
    ("post", PUBLISH, "/publisher/v1/project/default/event", {"action": "no crud"}),
    ("post", PUBLISH, "/publisher/v1/project/no-such/event", RETRACED_LOGIN),
    (
        "post",
        f"{PUBLISH}/bulk",
        "/publisher/v1/project/default/event/bulk",
        {"events": [RETRACED_LOGIN, RETRACED_LOGIN]},
    ),
    ("post", f"{PUBLISH}/bulk", "/publisher/v1/project/default/event/bulk", {"events": [{}]}),
    ("delete", "/clients/{client}", "/clients/nobody", None),
    ("post", GRAPHQL, "/publisher/v1/project/default/graphql", {"query": SEARCH}),
    ("post", GRAPHQL, "/publisher/v1/project/default/graphql", {"query": "{ nope }"}),
    ("post", GRAPHQL, "/publisher/v1/project/default/graphql", {"variables": []}),
    ("post", "/publisher/v1/graphql", "/publisher/v1/graphql", {"query": SEARCH}),
]


@pytest.mark.usefixtures("monitoring_state")
def test_writes_answer_what_the_schema_declares(schema, admin_client_api):
    wrong = []
    for method, path, url, body in WRITES:
        if body is None:
            response = admin_client_api.generic(method.upper(), url)
        else:
            response = admin_client_api.generic(
                method.upper(), url, json.dumps(body), content_type="application/json"
            )
        problem = _declared(schema, method, path, response)
        if problem:
            wrong.append((method, url, problem))
    assert wrong == [], "\n".join(map(str, wrong))
