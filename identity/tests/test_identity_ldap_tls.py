"""The Identity API over StartTLS and LDAPS, against a real slapd with a throwaway CA."""

import pytest

from audits.models import AuditEvent
from identity.models import DirectorySource, TlsMode
from identity.services import directory_source_set_bind_password

pytestmark = pytest.mark.django_db


def _source(server, *, mode: str, port: int, ca_pem: str = "", verify: bool = True):
    source = DirectorySource(
        name=f"TLS {mode}",
        host=server.host,
        port=port,
        base_dn=server.base_dn,
        user_search_dn=server.users_dn,
        group_search_dn=server.groups_dn,
        bind_dn=server.reader_dn,
        user_object_class="inetOrgPerson",
        tls_mode=mode,
        verify_certificate=verify,
        ca_certificate=ca_pem,
        timeout_seconds=3,
    )
    directory_source_set_bind_password(source=source, password=server.reader_password)
    source.save()
    return source


def _login(client, username, password):
    return client.post(
        "/identity/v1/login", {"username": username, "password": password}, format="json"
    )


@pytest.mark.parametrize("mode", [TlsMode.LDAPS, TlsMode.STARTTLS])
def test_login_over_tls_with_the_directory_ca_trusted(identity_client, slapd_tls, mode):
    port = slapd_tls.ldaps_port if mode == TlsMode.LDAPS else slapd_tls.port
    _source(slapd_tls, mode=mode, port=port, ca_pem=slapd_tls.ca_pem)
    response = _login(identity_client, "alice", "alice-password")
    assert response.status_code == 200, response.content
    assert response.json()["DN"] == slapd_tls.user_dn("alice")
    assert _login(identity_client, "alice", "wrong").status_code == 401


@pytest.mark.parametrize("mode", [TlsMode.LDAPS, TlsMode.STARTTLS])
def test_untrusted_certificate_is_503_and_no_password_is_sent(identity_client, slapd_tls, mode):
    # The system store does not know the throwaway CA: verification must refuse the server.
    port = slapd_tls.ldaps_port if mode == TlsMode.LDAPS else slapd_tls.port
    _source(slapd_tls, mode=mode, port=port)
    response = _login(identity_client, "alice", "alice-password")
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "service_unavailable"
    assert AuditEvent.objects.filter(action="identity.login.unavailable").exists()


def test_ldaps_without_verification_still_encrypts(identity_client, slapd_tls):
    _source(slapd_tls, mode=TlsMode.LDAPS, port=slapd_tls.ldaps_port, verify=False)
    assert _login(identity_client, "alice", "alice-password").status_code == 200


def test_ldaps_to_a_plain_port_is_503_not_500(identity_client, slapd_tls):
    _source(slapd_tls, mode=TlsMode.LDAPS, port=slapd_tls.port, ca_pem=slapd_tls.ca_pem)
    assert _login(identity_client, "alice", "alice-password").status_code == 503
