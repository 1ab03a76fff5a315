"""The Identity and Console credential APIs over the site's own users and groups."""

import pytest
from django.contrib.auth.models import Group

from audits.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough password 42"


@pytest.fixture
def alice(django_user_model):
    user = django_user_model.objects.create_user(
        username="alice",
        password=PASSWORD,
        email="alice@example.com",
        first_name="Alice",
        last_name="Liddell",
    )
    group = Group.objects.create(name="engineers")
    group.user_set.add(user)
    return user


def test_sources_lists_the_site_directory(identity_client):
    response = identity_client.get("/identity/v1/sources")
    assert response.status_code == 200
    assert response.json() == {
        "sources": [{"base_dn": "dc=integration-site,dc=local", "hostname": "integration-site"}]
    }


def test_login_returns_capitalised_entry_with_groups_and_list_attributes(identity_client, alice):
    response = identity_client.post(
        "/identity/v1/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"DN", "Username", "Groups", "Attributes"}
    assert body["DN"] == "uid=alice,ou=users,dc=integration-site,dc=local"
    assert body["Username"] == "alice"
    assert body["Attributes"]["mail"] == ["alice@example.com"]
    assert body["Attributes"]["cn"] == ["Alice Liddell"]
    assert all(isinstance(v, list) for v in body["Attributes"].values())
    assert not {k.lower() for k in body["Attributes"]} & {"userpassword", "password"}
    [group] = body["Groups"]
    assert group["DN"] == "cn=engineers,ou=groups,dc=integration-site,dc=local"
    assert group["Name"] == "engineers"
    assert group["ID"] == str(Group.objects.get(name="engineers").pk)
    assert group["Attributes"]["member"] == [body["DN"]]
    assert PASSWORD not in response.content.decode()


def test_login_bad_password_is_401_and_audited_without_password(identity_client, alice):
    response = identity_client.post(
        "/identity/v1/login", {"username": "alice", "password": "Tr0ub4dor-guess"}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert "WWW-Authenticate" not in response
    event = AuditEvent.objects.get(action="identity.login.failure")
    assert event.is_failure and event.target_name == "alice"
    assert "Tr0ub4dor" not in str(event.__dict__)


def test_login_unknown_user_and_blank_password_are_401(identity_client, alice):
    for username, password in (("nobody", "x"), ("alice", "")):
        response = identity_client.post(
            "/identity/v1/login", {"username": username, "password": password}, format="json"
        )
        assert response.status_code == 401, username


@pytest.mark.parametrize(
    "body", [{"username": 0, "password": "x"}, {"username": "alice", "password": 12345}]
)
def test_login_with_a_non_string_credential_is_400(identity_client, alice, body):
    # DRF's CharField would have turned the number into text and tried it as a password.
    response = identity_client.post("/identity/v1/login", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]


def test_login_missing_fields_is_400(identity_client):
    response = identity_client.post("/identity/v1/login", {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["password"]


def test_inactive_user_cannot_sign_in(identity_client, alice):
    alice.is_active = False
    alice.save()
    response = identity_client.post(
        "/identity/v1/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 401


def test_success_and_failure_are_both_audited(identity_client, alice):
    identity_client.post(
        "/identity/v1/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    identity_client.post(
        "/identity/v1/login", {"username": "alice", "password": "no"}, format="json"
    )
    actions = list(
        AuditEvent.objects.filter(action__startswith="identity.login").values_list(
            "action", "is_failure"
        )
    )
    assert sorted(actions) == [("identity.login.failure", True), ("identity.login.success", False)]
    for event in AuditEvent.objects.filter(action__startswith="identity.login"):
        assert PASSWORD not in str(event.__dict__)


def test_repeated_failures_lock_out_with_429_and_retry_after(identity_client, alice, settings):
    settings.IDENTITY_LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        response = identity_client.post(
            "/identity/v1/login", {"username": "alice", "password": "guess"}, format="json"
        )
        assert response.status_code == 401
    # Even the right password is refused while locked out: the guesser learns nothing.
    response = identity_client.post(
        "/identity/v1/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert AuditEvent.objects.filter(action="identity.login.locked").exists()


def test_lockout_is_per_username_whatever_the_callers_address(identity_client, alice, settings):
    # The caller is the application: its address is every end user's, so it is no key.
    settings.IDENTITY_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        identity_client.post(
            "/identity/v1/login", {"username": "alice", "password": "guess"}, format="json"
        )
    response = identity_client.post(
        "/identity/v1/login",
        {"username": "alice", "password": PASSWORD},
        format="json",
        REMOTE_ADDR="10.9.9.9",
    )
    assert response.status_code == 429


def test_bad_logins_for_random_usernames_do_not_lock_out_other_users(identity_client, alice):
    # 50 is IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS: it used to lock every user of the app out.
    for n in range(50):
        response = identity_client.post(
            "/identity/v1/login",
            {"username": f"random-{n}", "password": "guess"},
            format="json",
        )
        assert response.status_code == 401
    response = identity_client.post(
        "/identity/v1/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200


@pytest.fixture
def forwarding_client(token_client):
    return token_client("identity:read", "identity:forward")


def test_address_cap_applies_to_the_forwarded_end_user_address(forwarding_client, alice, settings):
    settings.IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS = 3
    for n in range(3):
        response = forwarding_client.post(
            "/identity/v1/login",
            {"username": f"random-{n}", "password": "guess", "remote_address": "203.0.113.7"},
            format="json",
        )
        assert response.status_code == 401
    locked = forwarding_client.post(
        "/identity/v1/login",
        {"username": "alice", "password": PASSWORD, "remote_address": "203.0.113.7"},
        format="json",
    )
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    for body in (
        {"username": "alice", "password": PASSWORD, "remote_address": "203.0.113.8"},
        {"username": "alice", "password": PASSWORD},
    ):
        assert forwarding_client.post("/identity/v1/login", body, format="json").status_code == 200


def test_username_lockout_is_per_forwarded_address(forwarding_client, alice, settings):
    settings.IDENTITY_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        forwarding_client.post(
            "/identity/v1/login",
            {"username": "alice", "password": "guess", "remote_address": "2001:db8::7"},
            format="json",
        )
    at = {"username": "alice", "password": PASSWORD, "remote_address": "2001:db8::7"}
    assert forwarding_client.post("/identity/v1/login", at, format="json").status_code == 429
    elsewhere = {**at, "remote_address": "2001:db8::8"}
    assert forwarding_client.post("/identity/v1/login", elsewhere, format="json").status_code == 200


def test_console_auth_takes_the_forwarded_address_too(token_client, alice, settings):
    alice.is_staff = True
    alice.save()
    settings.IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS = 1
    client = token_client("console:read", "identity:forward")
    body = {"username": "nobody", "password": "guess", "remote_address": "198.51.100.1"}
    assert client.post("/console/v1/auth", body, format="json").status_code == 401
    body = {"username": "alice", "password": PASSWORD, "remote_address": "198.51.100.1"}
    assert client.post("/console/v1/auth", body, format="json").status_code == 429


def test_stating_an_address_needs_the_forward_scope(identity_client, api_client, alice, settings):
    body = {"username": "alice", "password": PASSWORD, "remote_address": "203.0.113.7"}
    response = identity_client.post("/identity/v1/login", body, format="json")
    assert response.status_code == 403
    assert "identity:forward" in response.json()["message"]
    # Anonymous callers from the trusted network hold the Integration API scopes, not this.
    settings.INTEGRATION_API_ANONYMOUS_NETWORKS = ["127.0.0.0/8"]
    assert api_client.post("/identity/v1/login", body, format="json").status_code == 403


def test_a_forwarded_address_must_be_an_ip_address(forwarding_client, alice):
    for bad in ("localhost", "203.0.113.7, 10.0.0.1", "", "\x00"):
        response = forwarding_client.post(
            "/identity/v1/login",
            {"username": "alice", "password": PASSWORD, "remote_address": bad},
            format="json",
        )
        assert response.status_code == 400, bad
        assert "remote_address" in response.json()["errors"]


def test_lockout_expires_after_the_window(identity_client, alice, settings):
    from datetime import timedelta

    from integration_site.models import LoginFailure

    settings.IDENTITY_LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        identity_client.post(
            "/identity/v1/login", {"username": "alice", "password": "guess"}, format="json"
        )
    LoginFailure.objects.update(
        failed_at=LoginFailure.objects.first().failed_at
        - timedelta(seconds=settings.IDENTITY_LOGIN_LOCKOUT_SECONDS + 1)
    )
    response = identity_client.post(
        "/identity/v1/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200


def test_user_lookup_and_exists(identity_client, alice):
    response = identity_client.get("/identity/v1/user/alice")
    assert response.status_code == 200
    assert response.json()["Username"] == "alice"
    response = identity_client.get("/identity/v1/user/alice/exists")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"true"
    response = identity_client.get("/identity/v1/user/nobody/exists")
    assert response.content == b"false"


def test_unknown_user_is_404_json(identity_client):
    response = identity_client.get("/identity/v1/user/nobody")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_source_query_parameters_pick_a_source_or_400(identity_client, alice):
    ok = identity_client.post(
        "/identity/v1/login?hostname=integration-site&base_dn=DC=integration-site, DC=local",
        {"username": "alice", "password": PASSWORD},
        format="json",
    )
    assert ok.status_code == 200
    missing = identity_client.post(
        "/identity/v1/login?hostname=ldap.elsewhere",
        {"username": "alice", "password": PASSWORD},
        format="json",
    )
    assert missing.status_code == 400
    assert "ldap.elsewhere" in missing.json()["message"]


def test_identity_needs_the_identity_scope(token_client, api_client):
    assert api_client.get("/identity/v1/sources").status_code == 401
    response = token_client("audit:read").get("/identity/v1/sources")
    assert response.status_code == 403


def test_anonymous_from_trusted_network_may_use_identity(api_client, alice, settings):
    settings.INTEGRATION_API_ANONYMOUS_NETWORKS = ["127.0.0.0/8"]
    response = api_client.post(
        "/identity/v1/login", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200


def test_form_encoded_login_is_accepted(identity_client, alice):
    from urllib.parse import urlencode

    response = identity_client.post(
        "/identity/v1/login",
        urlencode({"username": "alice", "password": PASSWORD}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200


# --- /console/v1/auth -----------------------------------------------------------------


def test_console_auth_form_describes_password_auth(console_client):
    response = console_client.get("/console/v1/auth")
    assert response.status_code == 200
    assert response.json() == {"authType": "password", "form": {"username": "", "password": ""}}


def test_console_auth_accepts_staff_and_rejects_others(console_client, alice, superuser):
    ok = console_client.post(
        "/console/v1/auth",
        {"username": "root", "password": "correct horse battery staple"},
        format="json",
    )
    assert ok.status_code == 200
    assert ok.content == b""
    # alice is a directory user but not console staff.
    not_staff = console_client.post(
        "/console/v1/auth", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert not_staff.status_code == 401
    wrong = console_client.post(
        "/console/v1/auth", {"username": "root", "password": "nope"}, format="json"
    )
    assert wrong.status_code == 401
    assert console_client.post("/console/v1/auth", {}, format="json").status_code == 400
    assert AuditEvent.objects.filter(action="console.login.success").count() == 1
    assert AuditEvent.objects.filter(action="console.login.failure").count() == 2
