"""check --deploy --database: LDAP directories that bind in clear are named."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from identity.checks import plain_ldap_check
from identity.models import DirectorySource, TlsMode

pytestmark = pytest.mark.django_db


def make_source(name: str, tls_mode: str, *, enabled: bool = True) -> DirectorySource:
    return DirectorySource.objects.create(
        name=name,
        host="ldap.example.com",
        base_dn="dc=example,dc=com",
        tls_mode=tls_mode,
        enabled=enabled,
    )


def test_plain_enabled_directories_are_named_and_tls_ones_are_not():
    make_source("corp", TlsMode.PLAIN)
    make_source("secure", TlsMode.LDAPS)
    make_source("old", TlsMode.PLAIN, enabled=False)
    [warning] = plain_ldap_check(None, databases=["default"])
    assert warning.id == "identity.W001"
    assert "corp" in warning.msg
    assert "secure" not in warning.msg and "old" not in warning.msg


def test_no_warning_without_plain_directories_or_without_database_access():
    make_source("secure", TlsMode.STARTTLS)
    assert plain_ldap_check(None, databases=["default"]) == []
    make_source("corp", TlsMode.PLAIN)
    assert plain_ldap_check(None, databases=None) == []


def test_deploy_check_with_the_database_fails_on_a_plain_directory():
    make_source("corp", TlsMode.PLAIN)
    with pytest.raises(SystemCheckError, match=r"identity\.W001"):
        call_command(
            "check",
            "--deploy",
            "--database",
            "default",
            "--fail-level",
            "WARNING",
            "--tag",
            "security",
        )
