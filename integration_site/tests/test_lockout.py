"""
The sign-in lockout ledger (integration_site.lockout) on HTTP Basic and the admin's login:
failures count in the ledger the Identity API uses, and a locked username or address gets
a 429 with Retry-After before any password is hashed.
"""

import base64

import pytest

from integration_site.authentication import basic_auth_cache_clear
from integration_site.lockout import login_lockout_check
from integration_site.models import LoginFailure
from integration_site.tests.hashers import CountingPasswordHasher

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture(autouse=True)
def _counted_hashing(settings):
    settings.PASSWORD_HASHERS = [f"{CountingPasswordHasher.__module__}.CountingPasswordHasher"]
    settings.IDENTITY_LOGIN_MAX_FAILURES = 3
    settings.IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS = 6
    settings.BASIC_AUTH_CACHE_SECONDS = 300
    basic_auth_cache_clear()
    yield
    basic_auth_cache_clear()


@pytest.fixture
def hammer(django_user_model):
    user = django_user_model.objects.create_superuser("hammer", password=PASSWORD)
    CountingPasswordHasher.calls = 0
    return user


def _get_status(api_client, username: str, password: str, **extra):
    api_client.credentials(HTTP_AUTHORIZATION=_basic(username, password))
    return api_client.get("/api/status", **extra)


def test_wrong_basic_passwords_lock_out_with_429_and_no_hash(api_client, hammer):
    for _ in range(3):
        assert _get_status(api_client, "hammer", "guess").status_code == 401
    assert CountingPasswordHasher.calls == 3

    api_client.credentials(HTTP_AUTHORIZATION=_basic("hammer", "another guess"))
    locked = api_client.get("/health")
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 900
    assert locked.json()["code"] == "throttled"
    assert "Too many failed sign-ins" in locked.json()["message"]
    # Foreman's routes say it in Foreman's error shape.
    foreman = _get_status(api_client, "hammer", "another guess")
    assert foreman.status_code == 429
    assert "Too many failed sign-ins" in foreman.json()["error"]["message"]
    # The right password is refused too, so the guesser learns nothing, and nothing is hashed.
    assert _get_status(api_client, "hammer", PASSWORD).status_code == 429
    assert CountingPasswordHasher.calls == 3
    # Refusals are not failures: the lockout ends when the window passes, not later.
    assert LoginFailure.objects.count() == 3


def test_a_cached_right_password_is_refused_while_locked(api_client, hammer):
    assert _get_status(api_client, "hammer", PASSWORD).status_code == 200
    for _ in range(3):
        assert _get_status(api_client, "hammer", "guess").status_code == 401
    # The verified pair is in the cache; answering from it would confirm a guess.
    assert _get_status(api_client, "hammer", PASSWORD).status_code == 429


def test_basic_lockout_is_per_username_and_address(api_client, hammer, django_user_model):
    django_user_model.objects.create_superuser("other", password=PASSWORD)
    for _ in range(3):
        _get_status(api_client, "hammer", "guess")
    assert _get_status(api_client, "hammer", PASSWORD).status_code == 429
    assert _get_status(api_client, "other", PASSWORD).status_code == 200
    elsewhere = _get_status(api_client, "hammer", PASSWORD, REMOTE_ADDR="192.0.2.9")
    assert elsewhere.status_code == 200


def test_spraying_basic_usernames_from_one_address_hits_the_address_cap(api_client, hammer):
    for n in range(6):
        assert _get_status(api_client, f"user{n}", "guess").status_code == 401
    assert _get_status(api_client, "hammer", PASSWORD).status_code == 429
    assert _get_status(api_client, "hammer", PASSWORD, REMOTE_ADDR="192.0.2.9").status_code == 200


def test_a_basic_success_forgets_that_users_failures(api_client, hammer):
    for _ in range(2):
        _get_status(api_client, "hammer", "guess")
    assert _get_status(api_client, "hammer", PASSWORD).status_code == 200
    assert not LoginFailure.objects.filter(username="hammer").exists()


def _admin_login(client, username: str, password: str, **extra):
    return client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, **extra
    )


def test_wrong_admin_passwords_lock_out_with_429_and_no_hash(client, hammer):
    for _ in range(3):
        response = _admin_login(client, "hammer", "guess")
        assert response.status_code == 200
        assert b"Please enter the correct username and password" in response.content
    assert CountingPasswordHasher.calls == 3

    locked = _admin_login(client, "hammer", PASSWORD)
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 900
    assert b"Too many failed sign-ins" in locked.content
    assert CountingPasswordHasher.calls == 3
    assert "_auth_user_id" not in client.session
    # Elsewhere, the same user still signs in.
    assert _admin_login(client, "hammer", PASSWORD, REMOTE_ADDR="192.0.2.9").status_code == 302


def test_admin_success_forgets_that_users_failures(client, hammer):
    _admin_login(client, "hammer", "guess")
    assert _admin_login(client, "hammer", PASSWORD).status_code == 302
    assert not LoginFailure.objects.exists()


def test_basic_and_admin_count_in_one_ledger(client, api_client, hammer):
    _get_status(api_client, "hammer", "guess")
    _admin_login(client, "Hammer", "guess")
    _get_status(api_client, "hammer ", "guess")
    assert _admin_login(client, "hammer", PASSWORD).status_code == 429
    assert login_lockout_check(username="HAMMER", address="127.0.0.1") is not None


def test_an_unstated_address_has_no_address_cap(db):
    for n in range(10):
        LoginFailure.objects.create(username=f"user{n}", remote_address="")
    assert login_lockout_check(username="alice", address=None) is None
    for _ in range(3):
        LoginFailure.objects.create(username="alice", remote_address="")
    assert login_lockout_check(username="alice", address=None) is not None
    # A username's failures where the address was unstated do not lock a stated address.
    assert login_lockout_check(username="alice", address="192.0.2.1") is None


def test_a_basic_username_with_control_characters_is_401_without_a_hash(api_client, hammer):
    response = _get_status(api_client, "ham\x00mer", PASSWORD)
    assert response.status_code == 401
    assert CountingPasswordHasher.calls == 0
    assert not LoginFailure.objects.exists()
