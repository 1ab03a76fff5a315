"""
POST /request through the transport, after Sensu 1.9's lib/sensu/api/routes/request.rb and
lib/sensu/api/utilities/publish_check_request.rb. The request is consumed from RabbitMQ as a
sensu-client consumes it (monitoring/tests/rabbitmq.py).
"""

import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from audits.models import AuditEvent
from monitoring.models import CheckDefinition, Client, ClientType
from monitoring.tests.rabbitmq import unique_subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer(token_client):
    return token_client("monitoring:read", "monitoring:write")


def post_request(client, body):
    return client.post("/request", data=json.dumps(body), content_type="application/json")


def test_request_is_published_to_the_subscribers_and_answers_202(writer, agent):
    # sensu/lib/sensu/api/routes/request.rb post_request; publish_check_request.rb
    subscription = unique_subscription()
    agent.subscribe(subscription)
    CheckDefinition.objects.create(
        name="disk", command="check-disk -w 80", subscribers=[subscription], interval=30
    )
    response = post_request(writer, {"check": "disk", "reason": "testing", "creator": "ops"})
    assert response.status_code == 202
    issued = response.json()["issued"]
    [request] = agent.received(subscription)
    # The definition without subscribers and interval, plus name, issued, api_requested.
    assert request == {
        "command": "check-disk -w 80",
        "name": "disk",
        "api_requested": {"reason": "testing", "creator": "ops"},
        "issued": issued,
    }
    audit = AuditEvent.objects.get(action="request", target_name="disk")
    assert audit.audited_changes["subscribers"] == [subscription]


def test_request_without_reason_carries_nulls_as_sensu_does(writer, agent):
    subscription = unique_subscription()
    agent.subscribe(subscription)
    CheckDefinition.objects.create(name="disk", command="x", subscribers=[subscription])
    assert post_request(writer, {"check": "disk"}).status_code == 202
    [request] = agent.received(subscription)
    assert request["api_requested"] == {"reason": None, "creator": None}


def test_request_subscribers_replace_the_definitions(writer, agent):
    # request.rb: `check[:subscribers] = data[:subscribers] if data[:subscribers]`
    mine, theirs = unique_subscription("roundrobin:"), unique_subscription()
    agent.subscribe(mine)
    agent.subscribe(theirs)
    CheckDefinition.objects.create(name="disk", command="x", subscribers=[theirs])
    assert post_request(writer, {"check": "disk", "subscribers": [mine]}).status_code == 202
    assert [r["name"] for r in agent.received(mine)] == ["disk"]
    assert agent.received(theirs) == []


def test_request_of_a_standalone_check_without_subscribers_publishes_nothing(writer, transport):
    # request.rb: `check[:subscribers] ||= Array.new`: accepted, published to no one.
    CheckDefinition.objects.create(name="local", command="x", standalone=True)
    assert post_request(writer, {"check": "local"}).status_code == 202
    assert transport.published == []


def test_request_of_a_proxy_check_publishes_one_request_per_matching_client(writer, agent):
    # publish_check_request.rb publish_proxy_check_requests
    subscription = unique_subscription()
    agent.subscribe(subscription)
    Client.objects.create(name="site-a", type=ClientType.PROXY, attributes={"url": "https://a"})
    Client.objects.create(name="site-b", type=ClientType.PROXY, attributes={})
    CheckDefinition.objects.create(
        name="http",
        command="check-http -u :::url:::",
        subscribers=[subscription],
        attributes={"proxy_requests": {"client_attributes": {"type": "proxy"}}},
    )
    assert post_request(writer, {"check": "http"}).status_code == 202
    [request] = agent.received(subscription)  # site-b's url token is unmatched: skipped
    assert request["command"] == "check-http -u https://a"
    assert request["source"] == "site-a"


def test_request_without_a_transport_is_503_naming_the_setting(writer, settings, no_publisher):
    settings.SENSU_TRANSPORT_URL = ""
    CheckDefinition.objects.create(name="disk", command="x", subscribers=["web"])
    response = post_request(writer, {"check": "disk"})
    assert response.status_code == 503
    assert "SENSU_TRANSPORT_URL" in response.json()["message"]
    assert not AuditEvent.objects.filter(action="request").exists()


def test_request_with_the_broker_unreachable_is_503(writer, broker_down):
    CheckDefinition.objects.create(name="disk", command="x", subscribers=["web"])
    response = post_request(writer, {"check": "disk"})
    assert response.status_code == 503
    assert "SENSU_TRANSPORT_URL" in response.json()["message"]
    assert not AuditEvent.objects.filter(action="request").exists()


def test_request_of_an_unknown_check_is_404_and_bad_bodies_400(writer, transport):
    assert post_request(writer, {"check": "nope"}).status_code == 404
    assert post_request(writer, {}).status_code == 400
    assert post_request(writer, {"check": "disk", "subscribers": "web"}).status_code == 400
    assert transport.published == []


def test_schema_lists_202_404_and_503_for_request():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    responses = schema["paths"]["/request"]["post"]["responses"]
    assert {"202", "404", "503"} <= set(responses)
