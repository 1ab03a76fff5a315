import pytest

from identity.tests.ldap_server import (  # noqa: F401 (fixtures)
    ldap_source,
    slapd,
    slapd_tls,
)
from identity.tests.provisioner_server import provisioner  # noqa: F401 (fixture)


@pytest.fixture
def identity_client(token_client):
    return token_client("identity:read")


@pytest.fixture
def console_client(token_client):
    return token_client("console:read")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # These tests create and check many passwords; the production hasher's cost is not
    # what they test, and on a shared 2-core machine it dominated their run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
