"""License, Console, Version (reads) and Status APIs."""

import pytest
from django.test import Client

from audits.models import AuditEvent
from licensing.models import ConsoleOption, StartupStatus
from licensing.options import DOCUMENTED_OPTIONS
from licensing.services.license import license_install

pytestmark = pytest.mark.django_db


# --- License API --------------------------------------------------------------------------------


def test_license_matches_seed_shape(installed_license, token_client):
    response = token_client("license:read").get("/license/v1/license")
    assert response.status_code == 200
    body = response.json()
    assert body["license_id"] == "f49b290abf39b945c6f519ee6ca1c4ad"
    assert len(body["installation_id"]) == 32
    assert body["release_channel"] == "Unstable"
    assert body["assignee"] == "Replicated, Inc"
    assert body["license_type"] == "paid"
    assert body["expiration_time"] == "2099-01-01T00:00:00Z"
    assert body["fields"][0] == {
        "field": "max_hosts",
        "title": "Maximum Number of Hosts",
        "type": "Integer",
        "value": 1,
        "hide_from_customer": False,
    }
    assert body["fields"][4]["value"] is True


def test_hidden_fields_are_returned_flagged(installed_license, token_client):
    fields = token_client("license:read").get("/license/v1/license").json()["fields"]
    hidden = [f for f in fields if f["hide_from_customer"]]
    assert [f["field"] for f in hidden] == ["secret_tier"]
    assert hidden[0]["value"] == "gold\nplatinum-ready\n"


def test_expiration_time_is_omitted_when_the_license_never_expires(
    sign, license_payload, token_client
):
    license_payload["expiration_time"] = None
    license_install(data=sign(license_payload))
    body = token_client("license:read").get("/license/v1/license").json()
    assert "expiration_time" not in body


def test_no_license_is_404_json(token_client):
    response = token_client("license:read").get("/license/v1/license")
    assert response.status_code == 404
    assert response.json()["message"] == "No license is installed."


def test_field_endpoint_returns_typed_value(installed_license, token_client):
    response = token_client("license:read").get("/license/v1/field/max_hosts")
    assert response.status_code == 200
    assert response.json() == {"field": "max_hosts", "value": 1, "type": "Integer"}


def test_hidden_field_endpoint_is_flagged(installed_license, token_client):
    body = token_client("license:read").get("/license/v1/field/secret_tier").json()
    assert body["hide_from_customer"] is True and body["type"] == "Text"


def test_unknown_field_is_404_json(installed_license, token_client):
    response = token_client("license:read").get("/license/v1/field/max_queues")
    assert response.status_code == 404
    assert response.json() == {
        "message": "The license has no field named 'max_queues'.",
        "code": "not_found",
    }


@pytest.mark.parametrize(
    "accept, status",
    [
        (None, 200),
        ("*/*", 200),
        ("application/json", 200),
        ("text/html,application/xhtml+xml,*/*;q=0.8", 200),
        ("application/json; charset=utf-8", 200),
        ("text/html", 400),
        ("application/xml, text/plain", 400),
    ],
)
def test_accept_header_rule(installed_license, make_token, accept, status):
    _, secret = make_token("license:read", "version:read", "status:write")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    if accept is not None:
        headers["HTTP_ACCEPT"] = accept
    client = Client()
    for path in ("/license/v1/license", "/license/v1/field/max_hosts", "/version/v1/updates"):
        response = client.get(path, **headers)
        assert response.status_code == status, (path, accept)
        assert response["Content-Type"] == "application/json"
        if status == 400:
            assert "Accept header" in response.json()["message"]
    response = client.put(
        "/status/v1/startup", '{"message": "ok"}', content_type="application/json", **headers
    )
    assert response.status_code == (204 if status == 200 else 400)


def test_license_needs_its_scope(installed_license, token_client):
    response = token_client("version:read").get("/license/v1/license")
    assert response.status_code == 403
    assert "license:read" in response.json()["message"]


def test_anonymous_callers_are_refused_by_default(installed_license, api_client):
    assert api_client.get("/license/v1/license").status_code == 401


def test_anonymous_network_may_call_as_replicated_apps_do(installed_license, api_client, settings):
    settings.INTEGRATION_API_ANONYMOUS_NETWORKS = ["127.0.0.0/8"]
    assert api_client.get("/license/v1/license").status_code == 200


# --- Console API --------------------------------------------------------------------------------


def test_documented_options_are_seeded():
    names = set(ConsoleOption.objects.values_list("name", flat=True))
    assert {spec.name for spec in DOCUMENTED_OPTIONS} <= names
    assert ConsoleOption.objects.get(name="app.update.check.schedule").value == "@every 5h"


def test_option_is_plain_text(token_client):
    response = token_client("console:read").get("/console/v1/option?name=app.update.check.schedule")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"@every 5h"


def test_option_plain_text_even_with_json_accept(token_client):
    client = token_client("console:read")
    response = client.get("/console/v1/option?name=scheduler", HTTP_ACCEPT="application/json")
    assert response.content == b"replicated"


def test_unknown_option_is_400(token_client):
    response = token_client("console:read").get("/console/v1/option?name=no.such.option")
    assert response.status_code == 400
    assert response.json()["message"] == "Unknown console option 'no.such.option'."


def test_missing_option_name_is_400(token_client):
    response = token_client("console:read").get("/console/v1/option")
    assert response.status_code == 400
    assert "name" in response.json()["message"]


def test_group_option_returns_its_subfields(token_client):
    response = token_client("console:read").get("/console/v1/option?name=snapshot.schedule")
    import json

    body = json.loads(response.content)
    assert body["enabled"] == "false"
    assert body["spec"] == "@daily"
    assert set(body) >= {"enabled", "spec", "time.daily", "day.weekly", "time.weekly"}


def test_secret_option_value_is_returned_to_the_application(token_client):
    pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"
    ConsoleOption.objects.filter(name="security.key").update(value=pem)
    response = token_client("console:read").get("/console/v1/option?name=security.key")
    assert response.content.decode() == pem


# --- Status API ---------------------------------------------------------------------------------


def test_startup_status_is_204_and_recorded(token_client):
    client = token_client("status:write")
    response = client.put(
        "/status/v1/startup", {"message": "Migrating data...", "severity": "error"}, format="json"
    )
    assert response.status_code == 204
    assert response.content == b""
    status = StartupStatus.objects.get()
    assert (status.message, status.severity) == ("Migrating data...", "error")
    event = AuditEvent.objects.filter(action="status.startup").get()
    assert event.is_failure and event.actor_name.startswith("token:")


def test_startup_status_severity_is_optional(token_client):
    client = token_client("status:write")
    assert client.put("/status/v1/startup", {"message": "Ready"}, format="json").status_code == 204
    assert StartupStatus.objects.get().severity == "info"


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "message"),
        ({"message": "x", "severity": "fatal"}, "severity"),
        ({"message": ["x"]}, "message"),
        # Found by the long schemathesis run: DRF's CharField stored 0 as "0".
        ({"message": 0}, "message"),
        ({"message": True}, "message"),
    ],
)
def test_startup_status_bad_input_is_400(token_client, body, field):
    response = token_client("status:write").put("/status/v1/startup", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_startup_status_needs_status_write(token_client):
    response = token_client("version:read").put(
        "/status/v1/startup", {"message": "x"}, format="json"
    )
    assert response.status_code == 403


def test_admin_front_page_shows_startup_error_prominently(client, superuser, token_client):
    token_client("status:write").put(
        "/status/v1/startup",
        {"message": "Database unreachable", "severity": "error"},
        format="json",
    )
    client.force_login(superuser)
    html = client.get("/admin/").content.decode()
    assert 'class="dashboard-message severity-error">Database unreachable' in html
    assert "STARTUP ERROR" in html
