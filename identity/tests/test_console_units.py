"""Smaller pieces: password formats, TLS settings, secrets at rest, demo data."""

import ssl

import pytest

from identity.crypto import SecretUnreadable, secret_decrypt, secret_encrypt
from identity.directories import DirectoryUser, LdapDirectory
from identity.models import DirectorySource, PasswordFormat, TlsMode
from identity.provisioning import user_payload


def _user(stored: str) -> DirectoryUser:
    return DirectoryUser(
        dn="uid=x,dc=t", username="x", uuid="u", attributes={"cn": ["X"]}, stored_password=stored
    )


@pytest.mark.parametrize(
    ("stored", "chosen", "expected"),
    [
        ("{SSHA}abc", PasswordFormat.NONE, {}),
        (
            "{SSHA}abc",
            PasswordFormat.HASHED,
            {"password_format": "rfc2307", "password": "{SSHA}abc"},
        ),
        (
            "pbkdf2_sha256$1$s$h",
            PasswordFormat.HASHED,
            {"password_format": "django", "password": "pbkdf2_sha256$1$s$h"},
        ),
        ("plain secret", PasswordFormat.HASHED, {}),
        ("{CLEARTEXT}plain", PasswordFormat.HASHED, {}),
        (
            "plain secret",
            PasswordFormat.CLEARTEXT,
            {"password_format": "cleartext", "password": "plain secret"},
        ),
        (
            "{CLEARTEXT}plain",
            PasswordFormat.CLEARTEXT,
            {"password_format": "cleartext", "password": "plain"},
        ),
    ],
)
def test_password_is_sent_only_in_the_chosen_format(stored, chosen, expected):
    payload = user_payload(_user(stored), password_format=chosen)
    assert {k: v for k, v in payload.items() if k.startswith("password")} == expected


@pytest.mark.parametrize(
    ("mode", "use_ssl", "has_tls"),
    [(TlsMode.PLAIN, False, False), (TlsMode.STARTTLS, False, True), (TlsMode.LDAPS, True, True)],
)
def test_tls_modes_build_the_right_server(mode, use_ssl, has_tls):
    source = DirectorySource(host="ldap.test", port=636, base_dn="dc=t", tls_mode=mode)
    server = LdapDirectory(source)._server()
    assert server.ssl is use_ssl
    assert (server.tls is not None) is has_tls
    if has_tls:
        assert server.tls.validate == ssl.CERT_REQUIRED


def test_secret_round_trip_and_key_rotation(settings):
    stored = secret_encrypt("bind me")
    assert "bind me" not in stored
    assert secret_decrypt(stored) == "bind me"
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a brand new key"
    assert secret_decrypt(stored) == "bind me"
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(SecretUnreadable):
        secret_decrypt(stored)


@pytest.mark.django_db
def test_demo_loader_creates_users_groups_and_a_disabled_source():
    from django.contrib.auth.models import Group

    from identity.demo import load_identity_demo
    from integration_site.registry import registry

    assert registry["demo_loaders"]["identity"] is load_identity_demo
    lines = []
    load_identity_demo(lines.append)
    load_identity_demo(lines.append)  # idempotent
    assert set(Group.objects.values_list("name", flat=True)) >= {"engineering", "support"}
    assert Group.objects.get(name="engineering").user_set.count() == 2
    assert DirectorySource.objects.get().enabled is False
    assert lines


@pytest.mark.django_db
def test_changing_the_provisioner_url_in_the_admin_forces_a_full_sync(client, superuser):
    from identity.selectors import provisioner_settings

    config = provisioner_settings()
    config.needs_full_sync = False
    config.save()
    client.force_login(superuser)
    response = client.post(
        "/admin/console/provisionersettings/1/change/",
        {
            "url": "http://app.test:6006",
            "enabled": "on",
            "password_format": "none",
            "enable_reset_request": "on",
        },
    )
    assert response.status_code == 302
    config.refresh_from_db()
    assert config.url == "http://app.test:6006" and config.needs_full_sync
    # The change itself is audited.
    from audits.models import AuditEvent

    assert AuditEvent.objects.filter(target_type="ProvisionerSettings", action="update").exists()
