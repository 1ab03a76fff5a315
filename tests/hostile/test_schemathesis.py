"""
A bounded schemathesis run against a live server: requests generated from the OpenAPI
schema, with a token holding every scope, must never get a 5xx; and the events it generates
for the Replicated Audit API, which states its rules in full, are all accepted.
"""

import json

import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, assume, settings
from schemathesis.checks import not_a_server_error

from integration_site.parsers import UNSTORABLE_TEXT
from integration_site.scopes import Scope
from integration_site.services import api_token_create


def _openapi_schema():
    # pytest-django has configured Django before collection: the schema is generated once.
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(generated)))


schema = _openapi_schema()


@pytest.fixture
def bearer() -> dict[str, str]:
    _, secret = api_token_create(name="schemathesis", scopes=[s.value for s in Scope])
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_generated_request_gets_a_server_error(case, live_server, bearer):
    # A session closed at once: a kept-alive connection would keep the live server's request
    # thread alive past the test, to close its database connection from another test.
    with requests.Session() as session:
        response = case.call(base_url=live_server.url, session=session, headers=bearer, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])


def _storable(value) -> bool:
    """No NUL or unpaired surrogate in any string or key: the one rule the event's schema
    cannot state (audits.ingest.EVENT_SCHEMA)."""
    if isinstance(value, str):
        return not UNSTORABLE_TEXT.search(value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


@pytest.mark.django_db(transaction=True)
@schema.include(path_regex=r"^/audit/v1/event(/bulk)?$", method="POST").parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_event_the_schema_allows_is_stored(case, live_server, bearer):
    # Positive cases only (the coverage phase also sends schema-violating ones, which must be
    # refused: test_no_generated_request_gets_a_server_error covers those).
    assume(case.meta is None or case.meta.generation.mode.is_positive)
    assume(_storable(case.body))
    # A generated Idempotency-Key could repeat across examples with another body (a 422).
    case.headers = {k: v for k, v in (case.headers or {}).items() if k != "Idempotency-Key"}
    with requests.Session() as session:
        response = case.call(base_url=live_server.url, session=session, headers=bearer, timeout=30)
    assert response.status_code == 201, (case.body, response.text)
