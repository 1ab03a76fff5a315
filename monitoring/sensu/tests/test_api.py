"""The Sensu 1.x HTTP API, after spec/api/process_spec.rb and the 1.9 API docs."""

import io
import json
import string
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import given
from hypothesis import strategies as st

from audits.models import AuditEvent
from integration_site.models import WorkerHeartbeat
from integration_site.services import api_token_revoke
from monitoring.engine import accepted_results_drain
from monitoring.models import AcceptedResult, CheckDefinition, Client, Event, Silence
from monitoring.sensu.validation import NAME_PATTERN, SUBSCRIPTION_PATTERN
from monitoring.services import silence_create
from monitoring.tests.fixtures import make_event

pytestmark = pytest.mark.django_db

SEED_EVENT_KEYS = {"id", "client", "check", "occurrences", "action"}
SENSU_EXTRA_KEYS = {
    "occurrences_watermark",
    "last_ok",
    "last_state_change",
    "silenced",
    "silenced_by",
    "timestamp",
}


@pytest.fixture
def reader(token_client):
    return token_client("monitoring:read")


@pytest.fixture
def writer(token_client):
    return token_client("monitoring:read", "monitoring:write")


def post_json(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_events_list_has_seed_shape_plus_sensu_keys(reader):
    CheckDefinition.objects.create(
        name="chef_client_process",
        command="check-procs -p chef-client -W 1",
        subscribers=["production"],
        interval=60,
    )
    make_event(times=2)
    response = reader.get("/events")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    [event] = response.json()
    assert set(event) == SEED_EVENT_KEYS | SENSU_EXTRA_KEYS
    assert event["occurrences"] == 2
    assert event["action"] == "create"
    assert event["client"]["name"] == "i-424242"
    assert event["client"]["subscriptions"] == ["webserver", "production", "client:i-424242"]
    check = event["check"]
    for key in ("name", "command", "subscribers", "interval", "issued", "executed", "output"):
        assert key in check
    assert check["status"] == 1
    assert check["history"] == ["1", "1"]
    assert "X-Pagination" not in response


def test_incidents_is_an_alias_of_events(reader):
    make_event()
    assert reader.get("/incidents").json() == reader.get("/events").json()
    assert reader.get("/incidents/i-424242/chef_client_process").status_code == 200


def test_client_events_and_single_event(reader):
    make_event()
    make_event(client="other", check="disk", status=2)
    assert [e["check"]["name"] for e in reader.get("/events/i-424242").json()] == [
        "chef_client_process"
    ]
    assert reader.get("/events/nobody").json() == []
    response = reader.get("/events/i-424242/chef_client_process")
    assert response.status_code == 200
    assert response.json()["check"]["name"] == "chef_client_process"


def test_unknown_event_returns_404_json(reader):
    response = reader.get("/events/i-424242/nope")
    assert response.status_code == 404
    assert "nope" in response.json()["message"]


def test_delete_event_resolves_with_202_issued(writer):
    make_event()
    response = writer.delete("/events/i-424242/chef_client_process")
    assert response.status_code == 202
    assert isinstance(response.json()["issued"], int)
    assert not Event.objects.exists()
    assert AuditEvent.objects.filter(target_type="SensuEvent", action="resolve").exists()


def test_resolving_unknown_event_returns_404(writer):
    assert writer.delete("/events/i-424242/nope").status_code == 404
    response = post_json(writer, "/resolve", {"client": "i-424242", "check": "nope"})
    assert response.status_code == 404


def test_post_resolve_returns_202(writer):
    make_event()
    response = post_json(writer, "/resolve", {"client": "i-424242", "check": "chef_client_process"})
    assert response.status_code == 202
    assert set(response.json()) == {"issued"}
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '"a string"',
        "{}",
        '{"client": "i-424242"}',
        '{"client": "i-424242", "check": 1}',
        '{"client": null, "check": "x"}',
    ],
)
def test_resolve_malformed_body_returns_400_with_message(writer, body):
    response = writer.post("/resolve", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"]


def test_post_results_returns_202_and_lands_on_sensu_api_or_source(writer):
    response = post_json(writer, "/results", {"name": "backup", "output": "failed", "status": 2})
    assert response.status_code == 202
    assert isinstance(response.json()["issued"], int)
    assert accepted_results_drain() == 1
    assert Event.objects.get(client__name="sensu-api", check_name="backup").status == 2
    post_json(writer, "/results", {"name": "ping", "output": "down", "status": 2, "source": "sw-1"})
    accepted_results_drain()
    assert Client.objects.get(name="sw-1").type == "proxy"


# The worker closes stale connections between polls: it needs real commits.
@pytest.mark.django_db(transaction=True)
def test_post_results_is_queued_then_processed_by_the_worker(writer):
    # Sensu's API publishes the result on the transport and answers 202 at once; the
    # server's consumer (here `manage.py worker`) runs the engine.
    response = post_json(writer, "/results", {"name": "backup", "output": "failed", "status": 2})
    assert response.status_code == 202
    queued = AcceptedResult.objects.get()
    assert queued.client_name == "sensu-api"
    assert queued.check_data["status"] == 2
    assert queued.check_data["executed"] == response.json()["issued"]  # Sensu: executed ||= now
    assert not Event.objects.exists()
    call_command("worker", "--once", stdout=io.StringIO())
    assert not AcceptedResult.objects.exists()
    event = Event.objects.get(client__name="sensu-api", check_name="backup")
    assert event.status == 2
    assert event.check_data["executed"] == response.json()["issued"]
    assert AuditEvent.objects.filter(target_type="SensuEvent", action="create").count() == 1


def test_post_results_keeps_order_for_one_pair_within_a_batch(writer):
    for status in (1, 2, 2, 0):
        post_json(writer, "/results", {"name": "disk", "output": f"s{status}", "status": status})
    assert accepted_results_drain() == 4
    assert not Event.objects.exists()  # create, state change, occurrence, resolve
    result = writer.get("/results/sensu-api/disk").json()
    assert result["check"]["history"] == [1, 2, 2, 0]
    actions = list(
        AuditEvent.objects.filter(target_type="SensuEvent")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "create", "resolve"]


def test_post_results_accepts_a_body_without_json_content_type(writer):
    # curl -d sends application/x-www-form-urlencoded; Sensu parsed the body regardless.
    response = writer.post(
        "/results",
        data='{"name": "x", "output": "ok"}',
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    "body",
    [
        {"output": "no name"},
        {"name": "bad name!", "output": "x"},
        {"name": "x"},
        {"name": "x", "output": "x", "status": "2"},
        {"name": "x", "output": "x", "ttl": 0},
        {"name": "x", "output": "x", "handlers": "default"},
        {"name": "x", "output": "x", "source": "bad source"},
    ],
)
def test_post_results_malformed_returns_400(writer, body):
    response = post_json(writer, "/results", body)
    assert response.status_code == 400
    assert response.json()["message"]


# POST /results answers token-authenticated, valid results before DRF (the ingest hot path);
# everything else goes through DRF. Both must answer alike.


def test_post_results_hot_path_answers_like_the_drf_path(writer, admin_client_api, through_drf):
    body = {"name": "backup", "output": "failed", "status": 2}
    hot = post_json(writer, "/results", body)  # bearer token: the hot path
    assert through_drf == []
    drf = admin_client_api.post("/results", body, format="json")  # a user: DRF's path
    assert through_drf == [1]
    assert hot.status_code == drf.status_code == 202
    assert hot.content == b'{"issued":%d}' % hot.json()["issued"]
    assert set(hot.json()) == set(drf.json()) == {"issued"}
    for header in ("Content-Type", "Allow", "Vary"):
        assert hot[header] == drf[header], header
    assert hot["X-Request-ID"]
    assert AcceptedResult.objects.count() == 2
    assert accepted_results_drain() == 2
    assert Event.objects.get(client__name="sensu-api", check_name="backup").occurrences == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"output": "no name"}, "name"),
        ({"name": "x"}, "output"),
        ({"name": "x", "output": "x", "status": "2"}, "status"),
        ({"name": "x", "output": "x", "ttl": -5}, "ttl"),
        ({"name": "x", "output": "x", "source": "bad source"}, "source"),
    ],
)
def test_post_results_with_a_token_and_a_bad_body_is_400_naming_the_field(writer, body, field):
    response = post_json(writer, "/results", body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    payload = response.json()
    assert payload["code"] == "invalid"
    assert payload["message"].startswith(f"{field}: ")
    assert field in payload["errors"]
    assert not AcceptedResult.objects.exists()


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b""])
def test_post_results_with_a_token_and_no_json_object_is_400(writer, body):
    response = writer.post("/results", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"]
    assert not AcceptedResult.objects.exists()


def test_post_results_needs_a_usable_token_with_the_write_scope(api_client, make_token):
    body = json.dumps({"name": "x", "output": "y"})

    def post(secret):
        return api_client.post(
            "/results",
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )

    _, read_only = make_token("monitoring:read")
    response = post(read_only)
    assert response.status_code == 403
    assert response.json()["message"] == "This token lacks the 'monitoring:write' scope."
    response = post("not-a-token")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    token, revoked = make_token("monitoring:write")
    api_token_revoke(token=token)
    assert post(revoked).status_code == 401
    _, expired = make_token("monitoring:write", expires_at=timezone.now() - timedelta(seconds=1))
    assert post(expired).status_code == 401
    assert (
        api_client.post("/results", data=body, content_type="application/json").status_code == 401
    )
    assert not AcceptedResult.objects.exists()


def test_results_endpoints(writer):
    make_event(status=0)
    [item] = writer.get("/results").json()
    assert item["client"] == "i-424242"
    assert item["check"]["history"] == [0]
    assert writer.get("/results/i-424242").json() == [item]
    assert writer.get("/results/i-424242/chef_client_process").json() == item
    assert writer.get("/results/i-424242/nope").status_code == 404
    assert writer.delete("/results/i-424242/chef_client_process").status_code == 204
    assert writer.get("/results").json() == []


def test_pagination_header_and_slices(reader):
    for i in range(5):
        make_event(client=f"c{i}", check="disk", status=2)
    response = reader.get("/events?limit=2&offset=1")
    assert json.loads(response["X-Pagination"]) == {"limit": 2, "offset": 1, "total": 5}
    assert response["X-Pagination"] == '{"limit":2,"offset":1,"total":5}'
    assert [e["client"]["name"] for e in response.json()] == ["c1", "c2"]
    assert reader.get("/events?limit=2&offset=10").json() == []
    unpaged = reader.get("/events?limit=abc")
    assert "X-Pagination" not in unpaged
    assert len(unpaged.json()) == 5
    assert json.loads(reader.get("/events?limit=1")["X-Pagination"])["offset"] == 0
    assert json.loads(reader.get("/clients?limit=1")["X-Pagination"])["total"] == 5


def test_filter_parameters_apply_before_pagination(reader):
    for i in range(4):
        make_event(client=f"c{i}", check="disk", status=2 if i % 2 else 1)
    response = reader.get("/events?filter.check.status=2&limit=1&offset=1")
    assert json.loads(response["X-Pagination"]) == {"limit": 1, "offset": 1, "total": 2}
    assert [e["client"]["name"] for e in response.json()] == ["c3"]
    both = reader.get("/events?filter.client.environment=production&filter.check.name=disk")
    assert len(both.json()) == 4
    assert reader.get("/events?filter.client.environment=staging").json() == []
    assert len(reader.get("/events?filter.silenced=false").json()) == 4


def test_wrong_method_on_known_path_gets_405_with_allow(writer):
    response = writer.put("/events", data="{}", content_type="application/json")
    assert response.status_code == 405
    assert "GET" in response["Allow"]
    assert response.json()["message"]
    response = writer.post("/events/a/b", data="{}", content_type="application/json")
    assert response.status_code == 405
    assert "DELETE" in response["Allow"]
    assert writer.delete("/resolve").status_code == 405


def test_unknown_path_gets_404_json(reader):
    response = reader.get("/events/a/b/c")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_scopes_read_and_write_are_separate(api_client, token_client):
    assert api_client.get("/events").status_code == 401
    assert token_client("monitoring:write").get("/events").status_code == 403
    reader = token_client("monitoring:read")
    assert post_json(reader, "/results", {"name": "x", "output": "y"}).status_code == 403
    assert token_client("audit:read").get("/events").status_code == 403


def test_head_is_served_by_get(reader):
    response = reader.head("/events")
    assert response.status_code == 200


def test_post_clients_registers_keepalive_client(writer):
    body = {
        "name": "web-1",
        "address": "10.0.0.1",
        "subscriptions": ["webserver"],
        "keepalives": True,
        "keepalive": {"thresholds": {"warning": 60, "critical": 90}},
        "password": "hunter2",
    }
    response = post_json(writer, "/clients", body)
    assert response.status_code == 201
    assert response.json() == {"name": "web-1"}
    client = Client.objects.get(name="web-1")
    assert client.keepalives is True
    assert client.subscriptions == ["webserver", "client:web-1"]
    assert client.timestamp > 0
    shown = writer.get("/clients/web-1").json()
    assert shown["password"] == "REDACTED"
    assert shown["keepalive"]["thresholds"]["warning"] == 60
    assert writer.get("/clients/nobody").status_code == 404
    listed = writer.get("/clients").json()
    assert [c["name"] for c in listed] == ["web-1"]


@pytest.mark.parametrize(
    "body",
    [
        {"address": "x"},
        {"name": "bad name", "address": "x"},
        # Sensu's \w (Ruby's) is ASCII: no other letters, unlike Python's \w.
        {"name": "caf\u00e9", "address": "x"},
        {"name": "", "address": "x"},
        {"name": "ok"},
        {"name": "ok", "address": "x", "subscriptions": "web"},
        {"name": "ok", "address": "x", "keepalives": "yes"},
        {"name": "ok", "address": "x", "keepalive": {"thresholds": {"warning": "60"}}},
    ],
)
def test_post_clients_malformed_returns_400(writer, body):
    assert post_json(writer, "/clients", body).status_code == 400


def test_delete_client_is_delayed_and_resolves_its_events(writer):
    make_event(client="gone", check="disk", status=2)
    response = writer.delete("/clients/gone")
    assert response.status_code == 202
    assert isinstance(response.json()["issued"], int)
    assert not Client.objects.filter(name="gone").exists()
    assert AuditEvent.objects.filter(target_name="gone/disk", action="resolve").exists()
    assert writer.delete("/clients/gone").status_code == 404


def test_client_delete_that_keeps_meeting_new_events_is_409(writer, busy_client):
    response = writer.delete("/clients/busy")
    assert response.status_code == 409
    assert "still had events" in response.json()["message"]
    assert Client.objects.filter(name="busy").exists()


def test_client_history(reader):
    make_event(status=1, times=2)
    [row] = reader.get("/clients/i-424242/history").json()
    assert row["check"] == "chef_client_process"
    assert row["history"] == [1, 1]
    assert row["last_status"] == 1
    assert isinstance(row["last_execution"], int)
    assert row["last_result"]["output"] == "WARNING Found 0"


def test_checks_and_request(writer):
    CheckDefinition.objects.create(name="disk", command="check-disk", subscribers=["all"])
    CheckDefinition.objects.create(name="local", command="x", standalone=True)
    assert [c["name"] for c in writer.get("/checks").json()] == ["disk"]
    assert writer.get("/checks/disk").json()["command"] == "check-disk"
    assert writer.get("/checks/local").status_code == 404
    # Publishing the request through the transport: test_request.py.
    assert post_json(writer, "/request", {"check": "nope"}).status_code == 404
    assert post_json(writer, "/request", {}).status_code == 400
    make_event(check="disk", status=2)
    assert writer.delete("/checks/disk").status_code == 202
    assert writer.get("/results").json() == []


def test_a_silence_whose_id_outgrows_a_name_is_stored_and_audited(writer):
    # Found by the bounded schemathesis run on PostgreSQL: "0:" + 255 characters overflowed
    # the audit trail's 255-character target name, a 500.
    check = "c" * 255
    response = post_json(writer, "/silenced", {"subscription": "0", "check": check})
    assert response.status_code == 201
    assert writer.get(f"/silenced/ids/0:{check}").status_code == 200
    audited = AuditEvent.objects.filter(target_type="Silence").latest("id")
    assert audited.target_name == f"0:{check}"[:255]


def test_silenced_endpoints(writer):
    response = post_json(
        writer,
        "/silenced",
        {"subscription": "client:i-424242", "check": "disk", "expire": 3600, "reason": "x"},
    )
    assert response.status_code == 201
    post_json(writer, "/silenced", {"check": "disk"})
    post_json(writer, "/silenced", {"subscription": "webserver"})
    listed = writer.get("/silenced").json()
    assert [s["id"] for s in listed] == ["*:disk", "client:i-424242:disk", "webserver:*"]
    first = writer.get("/silenced/ids/client:i-424242:disk").json()
    assert 3590 <= first["expire"] <= 3600
    assert first["expire_on_resolve"] is False
    assert writer.get("/silenced/ids/*:disk").json()["expire"] == -1
    assert writer.get("/silenced/ids/nope:x").status_code == 404
    assert len(writer.get("/silenced/checks/disk").json()) == 2
    assert len(writer.get("/silenced/subscriptions/webserver").json()) == 1
    assert post_json(writer, "/silenced/clear", {"id": "*:disk"}).status_code == 204
    assert post_json(writer, "/silenced/clear", {"subscription": "webserver"}).status_code == 204
    assert post_json(writer, "/silenced/clear", {"id": "*:disk"}).status_code == 404
    assert post_json(writer, "/silenced/clear", {}).status_code == 400
    assert Silence.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": "only a reason"},
        {"check": "disk", "expire": "soon"},
        {"check": "disk", "reason": 1},
        {"check": "disk", "creator": []},
        {"check": "disk", "expire_on_resolve": "yes"},
        {"check": "disk", "begin": "now"},
        {"subscription": "bad sub!"},
    ],
)
def test_silenced_malformed_returns_400(writer, body):
    assert post_json(writer, "/silenced", body).status_code == 400


def test_silenced_flag_is_computed_live_at_read(writer):
    make_event(status=2)
    assert writer.get("/events").json()[0]["silenced"] is False
    silence_create(subscription="production", check=None)
    event = writer.get("/events/i-424242/chef_client_process").json()
    assert event["silenced"] is True
    assert event["silenced_by"] == ["production:*"]
    post_json(writer, "/silenced/clear", {"subscription": "production"})
    assert writer.get("/events").json()[0]["silenced"] is False


def test_stashes(writer):
    response = post_json(writer, "/stashes", {"path": "silence/web-1", "content": {"a": 1}})
    assert response.status_code == 201
    assert response.json() == {"path": "silence/web-1"}
    assert writer.get("/stashes").json() == [
        {"path": "silence/web-1", "content": {"a": 1}, "expire": -1}
    ]
    assert writer.get("/stash/silence/web-1").json() == {"a": 1}
    assert post_json(writer, "/stashes/other/x", {"b": 2}).status_code == 201
    assert writer.get("/stashes/other/x").json() == {"b": 2}
    assert writer.delete("/stash/silence/web-1").status_code == 204
    assert writer.get("/stash/silence/web-1").status_code == 404
    assert post_json(writer, "/stashes", {"path": "x"}).status_code == 400
    assert writer.post("/stash/y", data="[1]", content_type="application/json").status_code == 400


def test_aggregates(writer):
    for name, status in (("a", 0), ("b", 2), ("c", 2)):
        post_json(
            writer,
            "/results",
            {
                "name": "web",
                "output": f"out {status}",
                "status": status,
                "source": name,
                "aggregate": "webfarm",
            },
        )
    # The same client's other check, and the same check on another client, are not members:
    # an aggregate counts (client, check) pairs, not every result of its clients or checks.
    post_json(writer, "/results", {"name": "db", "output": "x", "status": 2, "source": "a"})
    post_json(writer, "/results", {"name": "web", "output": "x", "status": 2, "source": "d"})
    accepted_results_drain()
    assert writer.get("/aggregates").json() == [{"name": "webfarm"}]
    summary = writer.get("/aggregates/webfarm").json()
    assert summary["clients"] == 3
    assert summary["checks"] == 1
    assert summary["results"] == {
        "ok": 1,
        "warning": 0,
        "critical": 2,
        "unknown": 0,
        "total": 3,
        "stale": 0,
    }
    assert writer.get("/aggregates/webfarm/clients").json()[0] == {"name": "a", "checks": ["web"]}
    assert writer.get("/aggregates/webfarm/checks").json() == [
        {"name": "web", "clients": ["a", "b", "c"]}
    ]
    critical = writer.get("/aggregates/webfarm/results/critical").json()
    assert critical == [
        {"check": "web", "summary": [{"output": "out 2", "total": 2, "clients": ["b", "c"]}]}
    ]
    assert writer.get("/aggregates/webfarm/results/bad").status_code == 400
    assert writer.get("/aggregates/nope").status_code == 404
    assert writer.delete("/aggregates/webfarm").status_code == 204
    assert writer.delete("/aggregates/webfarm").status_code == 404


def test_info_and_redacted_settings(reader):
    info = reader.get("/info").json()
    assert info["sensu"]["version"]
    assert info["redis"]["connected"] is True
    # No SENSU_TRANSPORT_URL: no agent can connect, and /info says so (test_transport_publish
    # covers a connected RabbitMQ).
    assert info["transport"]["name"] == "none"
    assert info["transport"]["connected"] is False
    settings = reader.get("/settings").json()
    assert settings["api"]["password"] == "REDACTED"
    assert settings["sensu"]["keepalives"]["thresholds"] == {"warning": 120, "critical": 180}


def test_info_lists_only_servers_heard_from_in_the_last_30_seconds(reader):
    now = timezone.now()
    for worker_id, age in (("alive", 5), ("killed", 31)):
        WorkerHeartbeat.objects.create(
            worker_id=worker_id,
            hostname="h",
            pid=1,
            started_at=now - timedelta(hours=1),
            last_seen_at=now - timedelta(seconds=age),
        )
    info = reader.get("/info").json()
    assert [server["id"] for server in info["servers"]] == ["alive"]


# --- Secrets in client attributes never reach the audit trail ------------------------------


def client_audits(name: str):
    return AuditEvent.objects.filter(target_type="Client", target_name=name).order_by("seq")


def test_post_clients_audits_attributes_with_secrets_redacted(writer):
    body = {
        "name": "vault-1",
        "address": "10.0.0.9",
        "environment": "production",
        "password": "hunter2",
        "nested": {"api_key": "k", "region": "eu", "items": [{"token": "t0k3n"}]},
    }
    assert post_json(writer, "/clients", body).status_code == 201
    [create] = client_audits("vault-1")
    assert create.action == "create"
    assert create.audited_changes["attributes"] == {
        "environment": "production",
        "password": "[redacted]",
        "nested": {"api_key": "[redacted]", "region": "eu", "items": [{"token": "[redacted]"}]},
    }
    recorded = json.dumps(create.audited_changes)
    for secret in ("hunter2", '"k"', "t0k3n"):
        assert secret not in recorded
    # The registry keeps what the client sent, and the API shows it as Sensu does: its own
    # key list redacted ("REDACTED"), other keys as they are.
    assert Client.objects.get(name="vault-1").attributes["password"] == "hunter2"
    shown = writer.get("/clients/vault-1").json()
    assert shown["password"] == "REDACTED"
    assert shown["nested"]["api_key"] == "REDACTED"
    assert shown["nested"]["items"] == [{"token": "t0k3n"}]


def test_changing_only_a_secret_attribute_is_audited_redacted_on_both_sides(writer):
    body = {"name": "vault-2", "address": "10.0.0.9", "password": "hunter2", "team": "ops"}
    post_json(writer, "/clients", body)
    post_json(writer, "/clients", {**body, "password": "hunter3"})
    post_json(writer, "/clients", {**body, "password": "hunter3"})  # No change: no event.
    writer.delete("/clients/vault-2")
    create, update, destroy = client_audits("vault-2")
    assert update.action == "update"
    assert update.audited_changes == {
        "attributes": [
            {"password": "[redacted]", "team": "ops"},
            {"password": "[redacted]", "team": "ops"},
        ]
    }
    assert destroy.action == "destroy"
    assert destroy.audited_changes["attributes"] == {"password": "[redacted]", "team": "ops"}
    for event in (create, update, destroy):
        assert "hunter" not in json.dumps(event.audited_changes)


def test_keepalive_secrets_are_redacted_in_the_audit_trail_too(writer):
    body = {
        "name": "vault-3",
        "address": "10.0.0.9",
        "keepalive": {"thresholds": {"warning": 60}, "handler": {"secret": "s3"}},
    }
    post_json(writer, "/clients", body)
    [create] = client_audits("vault-3")
    assert create.audited_changes["keepalive"] == {
        "thresholds": {"warning": 60},
        "handler": {"secret": "[redacted]"},
    }


def test_events_show_the_client_redacted_as_clients_does_and_filters_cannot_probe_secrets(
    writer,
):
    post_json(
        writer,
        "/clients",
        {"name": "vault-3", "address": "10.0.0.7", "password": "hunter2", "team": "ops"},
    )
    post_json(
        writer,
        "/results",
        {"source": "vault-3", "name": "check_vault", "output": "down", "status": 2},
    )
    assert accepted_results_drain() == 1

    for path in ("/events", "/events/vault-3", "/events/vault-3/check_vault"):
        body = writer.get(path).json()
        event = body[0] if isinstance(body, list) else body
        assert event["client"]["password"] == "REDACTED", path
        assert event["client"]["team"] == "ops", path
        assert "hunter2" not in json.dumps(body), path
    # Filters see what the answer shows: the secret cannot be confirmed by guessing it.
    assert writer.get("/events", {"filter.client.password": "hunter2"}).json() == []
    assert len(writer.get("/events", {"filter.client.team": "ops"}).json()) == 1


@pytest.mark.parametrize(
    "path",
    ["/events/caf\u00e9", "/results/caf\u00e9", "/clients/caf\u00e9", "/silenced/checks/caf\u00e9"],
)
def test_a_name_outside_sensus_ascii_pattern_is_no_route(writer, path):
    # Sensu's routes match [\w.-]+ with Ruby's ASCII \w: anything else is no route at all.
    assert writer.get(path).status_code == 404


@given(st.text(max_size=20))
def test_name_patterns_accept_exactly_ascii_word_characters_dots_and_dashes(value):
    name_chars = set(string.ascii_letters + string.digits + "_.-")
    assert bool(NAME_PATTERN.match(value)) == (bool(value) and set(value) <= name_chars)
    assert bool(SUBSCRIPTION_PATTERN.match(value)) == (
        bool(value) and set(value) <= name_chars | {":"}
    )


def test_the_schema_states_the_name_patterns_and_ranges_the_server_checks():
    # Found by the long schemathesis run: requests valid by the schema were refused.
    schema = SchemaGenerator().get_schema(request=None, public=True)

    def body(path: str) -> dict:
        post = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        return post["schema"]["properties"]

    assert body("/clients")["name"]["pattern"] == "^[A-Za-z0-9_.-]+$"
    assert body("/silenced")["subscription"]["pattern"] == "^[A-Za-z0-9_.\\-:]+$"
    assert body("/results")["ttl"]["minimum"] == 1
    assert body("/results")["status"]["minimum"] == 0


@pytest.mark.parametrize("field, value", [("ttl", 0), ("ttl", -5), ("status", -1)])
def test_post_results_below_the_ranges_is_400_naming_the_field(writer, field, value):
    response = post_json(writer, "/results", {"name": "x", "output": "x", field: value})
    assert response.status_code == 400
    assert field in response.json()["errors"]
