"""
A bounded schemathesis run against a live server: requests generated from the OpenAPI
schema, with a token holding every scope, must never get a 5xx.
"""

import json

import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

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
