"""
A request admitted without credentials (INTEGRATION_API_ANONYMOUS_NETWORKS) must send its body
as application/json: text/plain, forms, multipart and XML are what a hostile page can make a
visitor's browser send cross-site without a CORS preflight. Callers with credentials keep
the lenient parsing.
"""

import json

import pytest

from audits.models import AuditEvent
from licensing.models import StartupStatus

pytestmark = pytest.mark.django_db

EVENT = json.dumps({"name": "user.login", "action": "user.login.success"})


@pytest.fixture
def anonymous_network(settings):
    settings.INTEGRATION_API_ANONYMOUS_NETWORKS = ["127.0.0.0/8"]


def _stored() -> int:
    return AuditEvent.objects.filter(action="user.login.success").count()


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "",
    ],
)
def test_an_anonymous_body_that_is_not_json_is_a_415_naming_the_rule(
    api_client, anonymous_network, content_type
):
    response = api_client.generic("POST", "/audit/v1/event", EVENT, content_type=content_type)
    assert response.status_code == 415
    body = response.json()
    assert body["code"] == "unsupported_media_type"
    assert body["message"].startswith(
        "A request without credentials must send its body as Content-Type: application/json"
    )
    assert _stored() == 0


def test_an_anonymous_form_login_and_status_are_refused(api_client, anonymous_network):
    response = api_client.post(
        "/identity/v1/login",
        "username=alice&password=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    response = api_client.put("/status/v1/startup", '{"message": "ok"}', content_type="text/plain")
    assert response.status_code == 415
    assert not StartupStatus.objects.exists()


def test_an_anonymous_json_body_is_accepted(api_client, anonymous_network):
    response = api_client.generic(
        "POST", "/audit/v1/event", EVENT, content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 201
    assert _stored() == 1


def test_a_token_caller_may_still_send_text_plain(token_client, anonymous_network):
    # `curl -d` sends application/x-www-form-urlencoded; scripts rely on it.
    client = token_client("audit:write")
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = client.generic("POST", "/audit/v1/event", EVENT, content_type=content_type)
        assert response.status_code == 201, response.content
    assert _stored() == 2
