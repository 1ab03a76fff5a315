"""The Identity API against a real OpenLDAP server (Debian's slapd, started by the tests)."""

from urllib.parse import quote

import pytest

from audits.models import AuditEvent
from identity.models import DirectorySource
from identity.tests.ldap_server import free_port

pytestmark = pytest.mark.django_db


def _login(client, username, password, query=""):
    return client.post(
        f"/identity/v1/login{query}", {"username": username, "password": password}, format="json"
    )


def test_sources_list_ldap_then_site(identity_client, ldap_source, slapd):
    response = identity_client.get("/identity/v1/sources")
    assert response.json()["sources"] == [
        {"base_dn": slapd.base_dn, "hostname": slapd.host},
        {"base_dn": "dc=integration-site,dc=local", "hostname": "integration-site"},
    ]


def test_ldap_login_returns_entry_groups_and_no_password(identity_client, ldap_source, slapd):
    response = _login(identity_client, "alice", "alice-password")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["DN"] == slapd.user_dn("alice")
    assert body["Username"] == "alice"
    attributes = {k.lower(): v for k, v in body["Attributes"].items()}
    assert attributes["mail"] == ["alice@example.test"]
    assert attributes["cn"] == ["Alice Liddell"]
    assert attributes["uidnumber"] == ["10001"]
    assert len(attributes["entryuuid"][0]) == 36
    assert "userpassword" not in attributes
    assert all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in attributes.values()
    )
    groups = {g["Name"]: g for g in body["Groups"]}
    assert set(groups) == {"engineers", "admins", "engineers-posix", "admins-posix"}
    assert groups["engineers"]["DN"] == slapd.group_dn("engineers")
    assert groups["engineers-posix"]["ID"] == "5001"
    assert groups["engineers-posix"]["Attributes"]["memberUid"] == ["alice", "bob"]


def test_ldap_wrong_and_empty_password_are_401(identity_client, ldap_source):
    assert _login(identity_client, "alice", "bob-password").status_code == 401
    # An empty password would be an LDAP "unauthenticated bind", which servers accept.
    assert _login(identity_client, "alice", "").status_code == 401
    assert _login(identity_client, "nobody", "x").status_code == 401
    assert AuditEvent.objects.filter(action="identity.login.failure").count() == 3


@pytest.mark.parametrize(
    "username",
    ["*", "a*", "*)(uid=*", "alice)(|(uid=*", "alice)(objectClass=*", "\\2a", "alice\x00"],
)
def test_ldap_filter_injection_matches_nobody(identity_client, ldap_source, username):
    response = _login(identity_client, username, "alice-password")
    assert response.status_code in (400, 401), response.content
    lookup = identity_client.get(f"/identity/v1/user/{quote(username, safe='')}/exists")
    if "\x00" in username:
        # No route takes a NUL in its path (integration_site.middleware, issue 14).
        assert lookup.status_code == 400
        return
    assert lookup.status_code == 200
    assert lookup.content == b"false"


def test_ldap_user_lookup_and_exists(identity_client, ldap_source, slapd):
    response = identity_client.get("/identity/v1/user/bob")
    assert response.status_code == 200
    assert response.json()["DN"] == slapd.user_dn("bob")
    assert identity_client.get("/identity/v1/user/carol/exists").content == b"true"
    assert identity_client.get("/identity/v1/user/zed/exists").content == b"false"
    assert identity_client.get("/identity/v1/user/zed").status_code == 404


def test_query_parameters_pick_the_source(identity_client, ldap_source, slapd, django_user_model):
    django_user_model.objects.create_user(username="alice", password="the site password 123")
    via_site = _login(
        identity_client, "alice", "the site password 123", "?hostname=integration-site"
    )
    assert via_site.status_code == 200
    assert via_site.json()["DN"].endswith("dc=integration-site,dc=local")
    via_ldap = _login(identity_client, "alice", "alice-password", f"?base_dn={slapd.base_dn}")
    assert via_ldap.json()["DN"] == slapd.user_dn("alice")
    # Without parameters the LDAP source comes first and decides for the names it holds.
    assert _login(identity_client, "alice", "the site password 123").status_code == 401


def test_group_restriction_keeps_non_members_out(identity_client, ldap_source, slapd):
    ldap_source.restrict_to_group_dn = slapd.group_dn("admins")
    ldap_source.save()
    assert _login(identity_client, "alice", "alice-password").status_code == 200
    assert _login(identity_client, "bob", "bob-password").status_code == 401
    assert identity_client.get("/identity/v1/user/bob/exists").content == b"false"


def test_unreachable_directory_is_503_not_500(identity_client, db):
    DirectorySource.objects.create(
        name="Down",
        host="127.0.0.1",
        port=free_port(),
        base_dn="dc=down,dc=test",
        timeout_seconds=1,
    )
    response = _login(identity_client, "alice", "whatever")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "service_unavailable"
    assert "Down" in body["message"]
    assert identity_client.get("/identity/v1/user/alice").status_code == 503
    event = AuditEvent.objects.get(action="identity.login.unavailable")
    assert event.is_failure


def test_unreachable_directory_does_not_block_users_found_elsewhere(
    identity_client, db, django_user_model
):
    DirectorySource.objects.create(
        name="Down",
        host="127.0.0.1",
        port=free_port(),
        base_dn="dc=down,dc=test",
        timeout_seconds=1,
    )
    django_user_model.objects.create_user(username="sam", password="sam's password 123")
    assert _login(identity_client, "sam", "sam's password 123").status_code == 200


def test_bad_search_credentials(identity_client, ldap_source):
    from identity.services import directory_source_set_bind_password

    directory_source_set_bind_password(source=ldap_source, password="not it")
    ldap_source.save()
    lookup = identity_client.get("/identity/v1/user/alice")
    assert lookup.status_code == 401
    assert lookup.json()["code"] == "directory_credentials_invalid"
    assert _login(identity_client, "alice", "alice-password").status_code == 503


def test_bind_password_is_encrypted_at_rest_and_masked_in_the_audit(ldap_source, slapd):
    ldap_source.refresh_from_db()
    assert slapd.reader_password not in ldap_source.bind_password
    assert ldap_source.bind_password.startswith("fernet:")
    event = AuditEvent.objects.filter(target_type="DirectorySource", action="create").get()
    assert event.audited_changes["bind_password"] == "[redacted]"
    assert slapd.reader_password not in str(event.audited_changes)


def test_console_auth_uses_ldap(console_client, ldap_source):
    form = console_client.get("/console/v1/auth").json()
    assert form["authType"] == "ldap"
    ok = console_client.post(
        "/console/v1/auth", {"username": "carol", "password": "carol-password"}, format="json"
    )
    assert ok.status_code == 200
    bad = console_client.post(
        "/console/v1/auth", {"username": "carol", "password": "nope"}, format="json"
    )
    assert bad.status_code == 401


def test_test_connection_reports_success_and_failure(ldap_source, db):
    from identity.services import directory_source_test

    ok, message = directory_source_test(source=ldap_source)
    assert ok, message
    assert "sees 3 user(s)" in message
    down = DirectorySource.objects.create(
        name="Down", host="127.0.0.1", port=free_port(), base_dn="dc=x", timeout_seconds=1
    )
    ok, message = directory_source_test(source=down)
    assert not ok
    down.refresh_from_db()
    assert down.last_test_ok is False and down.last_test_message


def test_admin_test_connection_action(admin_client_api, ldap_source, superuser, client):
    client.force_login(superuser)
    response = client.post(
        "/admin/console/directorysource/",
        {"action": "test_connection", "_selected_action": [ldap_source.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "sees 3 user(s)" in response.content.decode()


def test_admin_form_sets_password_without_showing_it(client, superuser, slapd):
    client.force_login(superuser)
    data = {
        "name": "Admin made",
        "enabled": "on",
        "position": "0",
        "directory_type": "openldap",
        "host": slapd.host,
        "port": str(slapd.port),
        "tls_mode": "plain",
        "verify_certificate": "on",
        "ca_certificate": "",
        "timeout_seconds": "3",
        "bind_dn": slapd.reader_dn,
        "new_bind_password": slapd.reader_password,
        "base_dn": slapd.base_dn,
        "user_search_dn": slapd.users_dn,
        "username_attribute": "uid",
        "user_object_class": "",
        "group_search_dn": "",
        "restrict_to_group_dn": "",
    }
    response = client.post("/admin/console/directorysource/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    source = DirectorySource.objects.get(name="Admin made")
    page = client.get(f"/admin/console/directorysource/{source.pk}/change/").content.decode()
    assert slapd.reader_password not in page
    assert source.bind_password not in page
    assert "set (hidden)" in page
    # Saving again without typing a password keeps it.
    data["new_bind_password"] = ""
    client.post(f"/admin/console/directorysource/{source.pk}/change/", data)
    from identity.services import directory_source_test

    source.refresh_from_db()
    assert directory_source_test(source=source)[0]
