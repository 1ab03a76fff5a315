"""POST /audit/v1/event and /audit/v1/event/bulk: Replicated's contract plus bad input."""

import json
import threading
from datetime import UTC, datetime

import pytest
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from audits.models import ActorType, AuditEvent, AuditIdempotencyKey, AuditSource

pytestmark = pytest.mark.django_db

URL = "/audit/v1/event"
BULK_URL = "/audit/v1/event/bulk"
REPLICATED_EXAMPLE = {
    "name": "user.login",
    "description": "john@example.com logged in successfully",
    "title": "User Login Success",
    "action": "user.login.success",
    "ip_address": "192.30.252.12",
}


@pytest.fixture
def writer(token_client):
    return token_client("audit:write")


def post_raw(client, body, url=URL, **extra):
    return client.generic("POST", url, body, content_type="application/json", **extra)


def post_json(client, data, url=URL, **extra):
    return post_raw(client, json.dumps(data), url, **extra)


def integration_events():
    return AuditEvent.objects.filter(source=AuditSource.INTEGRATION)


def test_replicated_example_returns_201_with_empty_text_plain_body(writer):
    response = post_json(writer, REPLICATED_EXAMPLE)
    assert response.status_code == 201
    assert response.content == b""
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_fast_path_201_carries_content_length_zero_not_chunked(writer, through_drf):
    # Seed 001's example shows `Content-Length: 0`; without it the server sends chunked.
    response = post_json(writer, REPLICATED_EXAMPLE)
    assert through_drf == []  # the fast path answered
    assert response["Content-Length"] == "0"
    event = integration_events().get()
    assert (event.action, event.name, event.title) == (
        "user.login.success",
        "user.login",
        "User Login Success",
    )
    assert event.description == "john@example.com logged in successfully"
    assert event.remote_address == "192.30.252.12"
    assert event.source == AuditSource.INTEGRATION
    assert response["X-Audit-Event-Id"] == str(event.pk)
    # Stored pending: the worker links it, so there is no hash to return yet.
    assert "X-Audit-Event-Hash" not in response
    assert (event.seq, event.prev_hash, event.hash) == (None, None, None)
    # The posting token is the actor when the body names none.
    assert event.actor_type == ActorType.API_TOKEN


def test_201_means_committed_and_chained_once_linked(writer):
    from audits.chain import chain_link_pending

    post_json(writer, REPLICATED_EXAMPLE)
    post_json(writer, {"action": "user.logout"})
    assert integration_events().filter(seq__isnull=True).count() == 2
    assert chain_link_pending() >= 2
    first, second = integration_events().order_by("seq")
    assert second.prev_hash == first.hash
    assert second.seq == first.seq + 1


def test_retraced_fields_are_stored(writer):
    body = {
        "action": "document.share",
        "crud": "u",
        "actor": {"id": "oid-42", "name": "Jane Doe", "href": "https://app/users/42"},
        "target": {"id": "doc-7", "name": "Q3 plan", "type": "Document", "href": "https://d/7"},
        "group": {"id": "acme", "name": "Acme Corp"},
        "is_failure": True,
        "is_anonymous": False,
        "fields": {"shared_with": "bob", "count": 3},
        "metadata": {"trace": "abc"},
        "created": "2026-01-31T12:00:00Z",
        "external_id": "ext-1",
        "component": "web",
        "version": "1.2.3",
        "source_ip": "2001:db8::1",
    }
    assert post_json(writer, body).status_code == 201
    event = integration_events().get()
    assert event.crud == "u"
    assert (event.actor_type, event.actor_id, event.actor_name, event.actor_href) == (
        ActorType.INTEGRATION,
        "oid-42",
        "Jane Doe",
        "https://app/users/42",
    )
    assert (event.target_type, event.target_id, event.target_name) == (
        "Document",
        "doc-7",
        "Q3 plan",
    )
    assert (event.group_id, event.group_name) == ("acme", "Acme Corp")
    assert event.is_failure is True
    assert event.fields == {"shared_with": "bob", "count": 3}
    assert event.metadata == {"trace": "abc"}
    assert event.created_at.isoformat() == "2026-01-31T12:00:00+00:00"
    assert event.received_at > event.created_at
    assert (event.external_id, event.component, event.component_version) == (
        "ext-1",
        "web",
        "1.2.3",
    )
    assert event.remote_address == "2001:db8::1"


def test_retraced_actor_and_target_fields_are_stored_hashed_and_verified(writer, token_client):
    # Retraced's SDKs send actor.fields and target.fields: unmodified clients must get 201.
    body = {
        "action": "document.share",
        "actor": {"id": "oid-42", "name": "Jane", "fields": {"department": "finance"}},
        "target": {"id": "doc-7", "type": "Document", "fields": {"pages": 12, "draft": True}},
    }
    assert post_json(writer, body).status_code == 201
    response = post_json(writer, {"events": [body, {"action": "plain"}]}, BULK_URL)
    assert response.status_code == 201
    single, bulk, plain = integration_events().order_by("id")
    for event in (single, bulk):
        assert event.actor_fields == {"department": "finance"}
        assert event.target_fields == {"pages": 12, "draft": True}
    assert (plain.actor_fields, plain.target_fields) == ({}, {})
    verified = token_client("audit:verify").get("/audit/v1/verify").json()
    assert verified["ok"] is True and verified["verified"] >= 3


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"actor": {"id": "a", "fields": ["x"]}}, "actor.fields"),
        ({"actor": {"id": "a", "fields": {"k": {"nested": 1}}}}, "actor.fields.k"),
        ({"target": {"id": "t", "fields": {"k": "x" * 10_001}}}, "target.fields.k"),
        ({"target": {"id": "t", "fields": "text"}}, "target.fields"),
    ],
)
def test_bad_actor_or_target_fields_are_400_naming_the_path(writer, body, path):
    response = post_json(writer, {"action": "a", **body})
    assert response.status_code == 400
    assert path in response.json()["errors"], response.json()
    assert not integration_events().exists()


def test_anonymous_event_has_anonymous_actor(writer):
    post_json(writer, {"action": "page.view", "is_anonymous": True})
    assert integration_events().get().actor_type == ActorType.ANONYMOUS


def test_ip_absent_uses_caller_ip_through_trusted_proxy(writer, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.0/8", "10.0.0.0/8"]
    response = post_json(
        writer, {"action": "user.login"}, HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9, 10.9.9.9"
    )
    assert response.status_code == 201
    # Unwrapped from the right: 10.9.9.9 is our proxy, 203.0.113.9 the client (the hop before
    # it was written by the client, so it is not believed).
    assert integration_events().get().remote_address == "203.0.113.9"


def test_ip_absent_ignores_forwarded_for_from_untrusted_peer(writer, settings):
    settings.TRUSTED_PROXIES = []
    post_json(writer, {"action": "user.login"}, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert integration_events().get().remote_address == "127.0.0.1"


def test_request_id_becomes_request_uuid(writer):
    post_json(writer, {"action": "user.login"}, HTTP_X_REQUEST_ID="req-123")
    assert integration_events().get().request_uuid == "req-123"


# --- Bad input ------------------------------------------------------------------------


def test_body_that_is_not_json_is_400(writer):
    response = post_raw(writer, "action=user.login")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert "not valid JSON" in response.json()["message"]
    assert not integration_events().exists()


def test_empty_body_is_400(writer):
    response = post_raw(writer, "")
    assert response.status_code == 400
    assert "empty" in response.json()["message"]


@pytest.mark.parametrize("body", ["[]", '"x"', "null", "42"])
def test_body_that_is_not_an_object_is_400(writer, body):
    response = post_raw(writer, body)
    assert response.status_code == 400
    assert "Expected a JSON object" in response.json()["message"]


def test_nan_is_rejected(writer):
    response = post_raw(writer, '{"action": "x", "fields": {"n": NaN}}')
    assert response.status_code == 400


def test_missing_action_is_400(writer):
    response = post_json(writer, {"name": "x"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"action": ["This field is required."]}
    assert response.json()["message"] == "action: This field is required."


@pytest.mark.parametrize("action", ["", 7, True, ["a"], {"a": 1}, "a" * 256, "nul\x00byte"])
def test_action_must_be_a_non_empty_storable_string_of_at_most_255(writer, action):
    response = post_json(writer, {"action": action})
    assert response.status_code == 400
    assert "action" in response.json()["errors"]


@pytest.mark.parametrize(
    "action",
    [
        "user.login.success",
        "a",
        "a" * 255,
        "svc:x/y_z-1",
        # Replicated stored whatever an application sent (issue 15, section 5).
        "User Login Success",
        "-leading",
        "with\nnewline",
        "ünïcode",
        "semi;colon",
    ],
)
def test_action_accepted(writer, action):
    assert post_json(writer, {"action": action}).status_code == 201
    assert integration_events().get().action == action


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 5),
        ("title", ["x"]),
        ("description", {"a": 1}),
        ("is_failure", "yes"),
        ("is_anonymous", 1),
        ("crud", "x"),
        ("crud", ["c"]),
        ("crud", {"c": 1}),
        ("actor", "jane"),
        ("fields", ["a"]),
        ("metadata", {"a": {"nested": 1}}),
        ("created", "yesterday"),
        ("created", 1700000000),
        ("action", 7),
    ],
)
def test_wrong_types_are_400_naming_the_field(writer, field, value):
    body = {"action": "user.login", field: value}
    response = post_json(writer, body)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any(key == field or key.startswith(f"{field}.") for key in errors), errors


@pytest.mark.parametrize(
    ("field", "limit"), [("name", 255), ("title", 255), ("description", 10_000)]
)
def test_fields_over_their_length_are_400(writer, field, limit):
    assert post_json(writer, {"action": "a", field: "x" * limit}).status_code == 201
    response = post_json(writer, {"action": "a", field: "x" * (limit + 1)})
    assert response.status_code == 400
    assert f"no more than {limit} characters" in response.json()["errors"][field][0]


def test_nested_field_over_length_is_named_by_path(writer):
    response = post_json(writer, {"action": "a", "actor": {"id": "x" * 256}})
    assert response.status_code == 400
    assert "actor.id" in response.json()["errors"]


@pytest.mark.parametrize("ip", ["999.1.1.1", "not-an-ip", "1.2.3", "::g", "192.168.0.1/24", 7])
def test_invalid_ip_is_400(writer, ip):
    response = post_json(writer, {"action": "a", "ip_address": ip})
    assert response.status_code == 400
    assert "ip_address" in response.json()["errors"]


def test_ipv6_is_stored_compressed(writer):
    post_json(writer, {"action": "a", "ip_address": "2001:0db8:0000:0000:0000:0000:0000:0001"})
    assert integration_events().get().remote_address == "2001:db8::1"


def test_unknown_top_level_key_is_400_naming_it(writer):
    response = post_json(writer, {"action": "a", "actoin": "typo", "zzz": 1})
    assert response.status_code == 400
    body = response.json()
    assert body["errors"]["actoin"] == ["Unknown field."]
    assert body["errors"]["zzz"] == ["Unknown field."]
    assert "actoin" in body["message"]


def test_unknown_nested_key_is_named(writer):
    response = post_json(writer, {"action": "a", "target": {"id": "1", "colour": "red"}})
    assert response.json()["errors"] == {"target.colour": ["Unknown field."]}


def test_unknown_key_with_control_characters_is_named_escaped(writer):
    response = post_json(writer, {"action": "a", "evil\nkey\x1b[31m": 1})
    assert response.status_code == 400
    assert "evil\\nkey\\x1b[31m" in response.json()["message"]


def test_control_characters_and_newlines_are_stored_faithfully(writer):
    description = "line one\nline two\r\n\ttabbed \x1b[31mred\x1b[0m \x07 <script>alert(1)</script>"
    body = {"action": "a", "description": description, "title": "t\u2028\u202e"}
    assert post_json(writer, body).status_code == 201
    event = integration_events().get()
    assert event.description == description
    assert event.title == "t\u2028\u202e"


def test_nul_character_is_rejected_not_truncated(writer):
    response = post_json(writer, {"action": "a", "description": "before\x00after"})
    assert response.status_code == 400
    assert "NUL" in response.json()["errors"]["description"][0]


def test_unpaired_surrogate_is_rejected(writer):
    response = post_raw(writer, '{"action": "a", "title": "\\ud800"}')
    assert response.status_code == 400


def test_invalid_utf8_is_400(writer):
    response = post_raw(writer, b'{"action": "\xff\xfe"}')
    assert response.status_code == 400


def test_deep_nesting_is_400(writer):
    response = post_raw(writer, "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400


# --- Authentication and scope ---------------------------------------------------------


def test_requires_credentials(api_client):
    response = post_json(api_client, REPLICATED_EXAMPLE)
    assert response.status_code == 401


def test_requires_write_scope(token_client):
    response = post_json(token_client("audit:read"), REPLICATED_EXAMPLE)
    assert response.status_code == 403


def test_anonymous_network_may_post_without_credentials(api_client, settings):
    settings.INTEGRATION_API_ANONYMOUS_NETWORKS = ["127.0.0.0/8"]
    assert post_json(api_client, REPLICATED_EXAMPLE).status_code == 201


# --- The fast path (integration_site.fast_path) -----------------------------------------
# A valid event from a token with audit:write is stored before DRF; everything else goes
# through DRF. Both must answer and record alike.


def test_fast_path_answers_and_records_like_the_drf_path(writer, admin_client_api, through_drf):
    fast = post_json(writer, REPLICATED_EXAMPLE, HTTP_X_REQUEST_ID="fast-1")
    assert through_drf == []
    drf = post_json(admin_client_api, REPLICATED_EXAMPLE, HTTP_X_REQUEST_ID="drf-1")
    assert through_drf == [1]
    assert fast.status_code == drf.status_code == 201
    assert fast.content == drf.content == b""
    for header in ("Content-Type", "Allow", "Vary"):
        assert fast[header] == drf[header], header
    by_token = integration_events().get(request_uuid="fast-1")
    by_user = integration_events().get(request_uuid="drf-1")
    assert fast["X-Audit-Event-Id"] == str(by_token.pk)
    assert by_token.actor_type == ActorType.API_TOKEN
    assert by_token.actor_name.startswith("token:test-token-")
    assert (by_user.actor_type, by_user.actor_name) == (ActorType.USER, "root")
    for name in ("action", "name", "title", "description", "remote_address", "source"):
        assert getattr(by_token, name) == getattr(by_user, name), name


@pytest.mark.parametrize(
    ("scopes", "body", "extra", "status"),
    [
        (("audit:write",), b'{"action": ', {}, 400),  # not JSON
        (("audit:write",), json.dumps({"action": "x", "bogus": 1}).encode(), {}, 400),
        (("audit:read",), json.dumps(REPLICATED_EXAMPLE).encode(), {}, 403),
        (
            ("audit:write",),
            json.dumps(REPLICATED_EXAMPLE).encode(),
            {"HTTP_IDEMPOTENCY_KEY": "k-1"},
            201,
        ),
    ],
)
def test_everything_but_the_plain_valid_case_goes_through_drf(
    token_client, through_drf, scopes, body, extra, status
):
    response = post_raw(token_client(*scopes), body, **extra)
    assert response.status_code == status
    assert through_drf == [1]
    if status >= 400:
        assert response["Content-Type"] == "application/json"
        assert response.json()["message"]
        assert not integration_events().exists()


# --- Idempotency ----------------------------------------------------------------------


def test_retry_with_same_key_returns_first_result_and_stores_once(writer):
    first = post_json(writer, REPLICATED_EXAMPLE, HTTP_IDEMPOTENCY_KEY="k-1")
    # Key order and whitespace differ, the content does not.
    retry = post_raw(
        writer,
        json.dumps(dict(reversed(REPLICATED_EXAMPLE.items())), indent=2),
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert first.status_code == retry.status_code == 201
    assert retry.content == b""
    assert retry["X-Audit-Event-Id"] == first["X-Audit-Event-Id"]
    assert retry["Idempotent-Replayed"] == "true"
    assert integration_events().count() == 1


def test_same_key_with_different_body_is_422(writer):
    post_json(writer, REPLICATED_EXAMPLE, HTTP_IDEMPOTENCY_KEY="k-2")
    response = post_json(
        writer, {**REPLICATED_EXAMPLE, "title": "changed"}, HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert response.status_code == 422
    assert "different request body" in response.json()["message"]
    assert integration_events().count() == 1


def test_keys_are_scoped_per_caller(token_client):
    one, two = token_client("audit:write"), token_client("audit:write")
    post_json(one, REPLICATED_EXAMPLE, HTTP_IDEMPOTENCY_KEY="shared")
    assert post_json(two, {"action": "other"}, HTTP_IDEMPOTENCY_KEY="shared").status_code == 201
    assert integration_events().count() == 2


def test_key_over_255_characters_is_400(writer):
    response = post_json(writer, REPLICATED_EXAMPLE, HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert post_json(writer, REPLICATED_EXAMPLE, HTTP_IDEMPOTENCY_KEY="k" * 255).status_code == 201


def test_invalid_body_does_not_burn_the_key(writer):
    assert post_json(writer, {"name": "no action"}, HTTP_IDEMPOTENCY_KEY="k-3").status_code == 400
    assert post_json(writer, REPLICATED_EXAMPLE, HTTP_IDEMPOTENCY_KEY="k-3").status_code == 201


def test_key_expires_after_ttl(writer, settings):
    from datetime import timedelta

    from django.utils import timezone

    post_json(writer, REPLICATED_EXAMPLE, HTTP_IDEMPOTENCY_KEY="k-4")
    AuditIdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = post_json(writer, {"action": "new"}, HTTP_IDEMPOTENCY_KEY="k-4")
    assert response.status_code == 201
    assert integration_events().count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_retries_with_one_key_store_one_event(make_token):
    from rest_framework.test import APIClient

    _, secret = make_token("audit:write")
    results, barrier = [], threading.Barrier(4)

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        barrier.wait()
        try:
            response = post_json(client, REPLICATED_EXAMPLE, HTTP_IDEMPOTENCY_KEY="race")
            results.append((response.status_code, response["X-Audit-Event-Id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in results] == [201] * 4
    assert len({event_id for _, event_id in results}) == 1
    assert integration_events().count() == 1


# --- Bulk -----------------------------------------------------------------------------


def test_bulk_returns_ids_and_hashes_in_input_order(writer):
    events = [{"action": f"bulk.{i}", "description": f"event {i}"} for i in range(25)]
    response = post_json(writer, {"events": events}, BULK_URL)
    assert response.status_code == 201
    result = response.json()
    assert len(result) == 25
    stored = {e.pk: e for e in integration_events()}
    for i, item in enumerate(result):
        event = stored[item["id"]]
        assert event.action == f"bulk.{i}"
        assert event.hash == item["hash"]
    seqs = [stored[item["id"]].seq for item in result]
    assert seqs == sorted(seqs) and seqs[-1] - seqs[0] == 24
    from audits.chain import audit_chain_verify

    assert audit_chain_verify().ok


def test_bulk_stores_control_characters_faithfully(writer):
    text = "a\tb\nc\\d\r\x1b"
    response = post_json(
        writer, {"events": [{"action": "x", "description": text, "fields": {"k": text}}]}, BULK_URL
    )
    assert response.status_code == 201
    event = integration_events().get()
    assert event.description == text
    assert event.fields == {"k": text}


def test_bulk_batch_mixing_shared_and_varying_values_is_stored_as_sent(writer):
    # The COPY formats a column the whole batch shares once and the rest per row: every
    # row must still hold exactly its own event, in every column, and verify.
    from audits.chain import audit_chain_verify, normalize_ip

    shared_text = "same\tfor\nall\\"
    events = [
        {
            "action": f"mix.{i % 3}",
            "description": shared_text,
            "title": shared_text if i % 2 else f"title\t{i}",
            "ip_address": "10.0.0.1" if i < 20 else "2001:db8::1",
            "fields": {"n": 1} if i % 4 == 0 else ({"n": 1.0} if i % 4 == 1 else {}),
            "is_failure": i == 7,
            "created": "2026-01-31T12:00:00Z" if i % 5 else "2026-01-31T13:00:00+01:00",
        }
        for i in range(30)
    ]
    response = post_json(writer, {"events": events}, BULK_URL)
    assert response.status_code == 201, response.content
    for sent, item in zip(events, response.json(), strict=True):
        stored = AuditEvent.objects.get(pk=item["id"])
        assert (stored.action, stored.description, stored.title) == (
            sent["action"],
            sent["description"],
            sent["title"],
        )
        assert normalize_ip(stored.remote_address) == normalize_ip(sent["ip_address"])
        assert stored.fields == sent["fields"] and stored.is_failure == sent["is_failure"]
        assert stored.created_at == datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    result = audit_chain_verify()
    assert result.ok, result.message


def test_bulk_with_one_bad_event_stores_none(writer):
    events = [{"action": "ok.1"}, {"action": "ok.2"}, {"name": "missing action"}, {"action": 5}]
    response = post_json(writer, {"events": events}, BULK_URL)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors == {
        "events[2].action": ["This field is required."],
        "events[3].action": ["Must be a string, not a number."],
    }
    assert response.json()["message"].startswith("events[2].action")
    assert not integration_events().exists()


def test_bulk_over_the_limit_is_400(writer, settings):
    settings.AUDIT_BULK_MAX_EVENTS = 3
    response = post_json(writer, {"events": [{"action": "a"}] * 4}, BULK_URL)
    assert response.status_code == 400
    assert "At most 3 events" in response.json()["message"]
    assert post_json(writer, {"events": [{"action": "a"}] * 3}, BULK_URL).status_code == 201


def test_bulk_default_limit_is_1000(writer):
    response = post_json(writer, {"events": [{"action": "a"}] * 1001}, BULK_URL)
    assert response.status_code == 400
    response = post_json(writer, {"events": [{"action": "a"}] * 1000}, BULK_URL)
    assert response.status_code == 201
    assert integration_events().count() == 1000


@pytest.mark.parametrize(
    "body", ['{"events": []}', '{"events": {}}', "[]", '{"events": [{"action": "a"}], "x": 1}']
)
def test_bulk_malformed_envelope_is_400(writer, body):
    assert post_raw(writer, body, BULK_URL).status_code == 400


def test_bulk_idempotency_replays_the_id_list(writer):
    body = {"events": [{"action": "a"}, {"action": "b"}]}
    first = post_json(writer, body, BULK_URL, HTTP_IDEMPOTENCY_KEY="bulk-1")
    retry = post_json(writer, body, BULK_URL, HTTP_IDEMPOTENCY_KEY="bulk-1")
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Content-Type"] == "application/json"
    assert integration_events().count() == 2
    other = post_json(
        writer, {"events": [{"action": "c"}]}, BULK_URL, HTTP_IDEMPOTENCY_KEY="bulk-1"
    )
    assert other.status_code == 422


def test_bulk_requires_write_scope(token_client):
    response = post_json(token_client("audit:read"), {"events": [{"action": "a"}]}, BULK_URL)
    assert response.status_code == 403


def test_purge_forgets_only_expired_keys(writer):
    from datetime import timedelta

    from django.utils import timezone

    from audits.tasks import audit_idempotency_keys_purge

    post_json(writer, REPLICATED_EXAMPLE, HTTP_IDEMPOTENCY_KEY="old")
    post_json(writer, {"action": "b"}, HTTP_IDEMPOTENCY_KEY="new")
    AuditIdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert audit_idempotency_keys_purge.call() == 1
    assert list(AuditIdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


# --- created: range --------------------------------------------------------------------


OUT_OF_RANGE_CREATED = [
    "0001-01-01T00:00:00+01:00",  # UTC conversion overflows below datetime.min
    "9999-12-31T23:59:59-01:00",  # and above datetime.max
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "9999-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999",
]


@pytest.mark.parametrize("created", OUT_OF_RANGE_CREATED)
def test_created_out_of_range_is_400_and_stores_nothing(writer, created):
    response = post_json(writer, {"action": "a", "created": created})
    assert response.status_code == 400, response.content
    assert "created" in response.json()["errors"]
    assert not integration_events().exists()


@pytest.mark.parametrize("created", OUT_OF_RANGE_CREATED)
def test_bulk_created_out_of_range_is_400_naming_the_event(writer, created):
    events = [{"action": "ok"}, {"action": "a", "created": created}]
    response = post_json(writer, {"events": events}, BULK_URL)
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["events[1].created"]
    assert not integration_events().exists()


@pytest.mark.parametrize(
    "created", ["1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00", "9998-12-31T23:59:59+12:00"]
)
def test_created_at_the_range_edges_is_stored_and_verifies(writer, created):
    from audits.chain import audit_chain_verify

    assert post_json(writer, {"action": "a", "created": created}).status_code == 201
    response = post_json(writer, {"events": [{"action": "b", "created": created}]}, BULK_URL)
    assert response.status_code == 201
    assert audit_chain_verify().ok


# --- ip_address: zones and round trips -------------------------------------------------


@pytest.mark.parametrize("ip", ["fe80::1%eth0", "fe80::1%1", "ff02::1%lo", "1.2.3.4%eth0"])
def test_ip_with_zone_is_400(writer, ip):
    response = post_json(writer, {"action": "a", "ip_address": ip})
    assert response.status_code == 400
    assert "zone" in response.json()["errors"]["ip_address"][0]
    response = post_json(writer, {"events": [{"action": "a", "source_ip": ip}]}, BULK_URL)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["events[0].source_ip"]
    assert not integration_events().exists()


def test_normalize_ip_drops_a_zone_as_the_database_does():
    # Events recorded from a request context bypass validation: the hash must cover what a
    # GenericIPAddressField stores.
    from audits.chain import normalize_ip

    assert normalize_ip("fe80::1%eth0") == "fe80::1"
    assert normalize_ip("FE80:0::1") == "fe80::1"


_addresses = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=6).map(lambda address: address.exploded),
    st.ip_addresses(v=4).map(lambda address: f"::ffff:{address}"),
    st.ip_addresses(v=4).map(lambda address: f"::{address}"),
)


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ips=st.lists(_addresses, min_size=1, max_size=3))
def test_any_accepted_ip_round_trips_and_verifies(writer, ips):
    from audits.chain import audit_chain_verify, normalize_ip

    single = post_json(writer, {"action": "ip.single", "ip_address": ips[0]})
    assert single.status_code == 201, single.content
    bulk = post_json(
        writer, {"events": [{"action": "ip.bulk", "ip_address": ip} for ip in ips]}, BULK_URL
    )
    assert bulk.status_code == 201, bulk.content
    stored = AuditEvent.objects.get(pk=single["X-Audit-Event-Id"])
    assert normalize_ip(stored.remote_address) == normalize_ip(ips[0])
    for item, ip in zip(bulk.json(), ips, strict=True):
        assert normalize_ip(AuditEvent.objects.get(pk=item["id"]).remote_address) == (
            normalize_ip(ip)
        )
    result = audit_chain_verify()
    assert result.ok, result.message


# --- Numbers in fields survive jsonb -------------------------------------------------


JSONB_UNSTABLE_NUMBERS = ["1e16", "-1.5e+16", "1.7976931348623157e308", "-0.0", "1.5e-7", "1.0"]


@pytest.mark.postgres
@pytest.mark.parametrize("count", [1, 25])  # bulk_create below COPY_MIN_EVENTS, COPY above
@pytest.mark.parametrize("number", JSONB_UNSTABLE_NUMBERS)
def test_bulk_numbers_in_fields_verify_after_jsonb(writer, number, count):
    from audits.chain import audit_chain_verify

    # Raw JSON text: the number reaches the parser exactly as a client writes it.
    event = (
        '{"action": "n", "fields": {"n": N}, "metadata": {"n": N}, '
        '"actor": {"id": "a", "fields": {"n": N}}, "target": {"id": "t", "fields": {"n": N}}}'
    ).replace("N", number)
    body = '{"events": [' + ", ".join([event] * count) + "]}"
    response = post_raw(writer, body, BULK_URL)
    assert response.status_code == 201, response.content
    assert post_raw(writer, event).status_code == 201  # pending, linked from the stored row
    result = audit_chain_verify()
    assert result.ok, result.message
    assert integration_events().filter(seq__isnull=False).count() == count + 1


@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_number_too_large_for_a_float_is_400(writer, number):
    # json reads 1e400 as infinity, which jsonb cannot store.
    response = post_raw(writer, '{"action": "a", "fields": {"n": ' + number + "}}")
    assert response.status_code == 400
    assert "fields.n" in response.json()["errors"]
    response = post_raw(
        writer, '{"events": [{"action": "a", "metadata": {"n": ' + number + "}}]}", BULK_URL
    )
    assert response.status_code == 400
    assert "events[0].metadata.n" in response.json()["errors"]
    assert not integration_events().exists()
