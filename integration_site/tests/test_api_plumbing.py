from datetime import timedelta

import pytest
from django.contrib.auth.backends import ModelBackend
from django.utils import timezone

from integration_site.services import api_token_revoke

pytestmark = [pytest.mark.django_db, pytest.mark.urls("integration_site.tests.plumbing_urls")]


def test_unauthenticated_request_gets_401_json_with_bearer_challenge(api_client):
    response = api_client.get("/api/echo")
    assert response.status_code == 401
    assert response.json()["message"] == "Authentication credentials were not provided."
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_valid_token_with_scope_is_accepted_with_either_keyword(api_client, make_token):
    token, secret = make_token("audit:read")
    for keyword in ("Bearer", "Token"):
        api_client.credentials(HTTP_AUTHORIZATION=f"{keyword} {secret}")
        response = api_client.get("/api/echo")
        assert response.status_code == 200, keyword
        assert response.json() == {"user": f"token:{token.name}"}


def test_wrong_token_is_rejected(api_client, make_token):
    make_token("audit:read")
    api_client.credentials(HTTP_AUTHORIZATION="Bearer ist_not-a-real-token")
    response = api_client.get("/api/echo")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API token."


def test_expired_token_is_rejected(api_client, make_token):
    _, secret = make_token("audit:read", expires_at=timezone.now() - timedelta(seconds=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = api_client.get("/api/echo")
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_revoked_token_is_rejected(api_client, make_token):
    token, secret = make_token("audit:read")
    api_token_revoke(token=token)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = api_client.get("/api/echo")
    assert response.status_code == 401
    assert response.json()["message"] == "This API token has been revoked."


def test_write_scope_does_not_grant_read(token_client):
    client = token_client("audit:write")
    assert client.post("/api/echo", {"a": 1}, format="json").status_code == 201
    response = client.get("/api/echo")
    assert response.status_code == 403
    assert response.json()["message"] == "This token lacks the 'audit:read' scope."


def test_token_is_stored_hashed(make_token):
    token, secret = make_token("audit:read")
    token.refresh_from_db()
    assert secret not in (token.digest, token.prefix)
    assert len(token.digest) == 64


def test_basic_auth_superuser_has_every_scope(api_client, superuser):
    api_client.credentials(HTTP_AUTHORIZATION=_basic("root", "correct horse battery staple"))
    assert api_client.get("/api/echo").status_code == 200


def test_basic_auth_wrong_password_is_401(api_client, superuser):
    api_client.credentials(HTTP_AUTHORIZATION=_basic("root", "wrong"))
    response = api_client.get("/api/echo")
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid username/password."


def test_plain_user_needs_scope_permission(api_client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="app", password="s3cret-pass-word")
    api_client.credentials(HTTP_AUTHORIZATION=_basic("app", "s3cret-pass-word"))
    assert api_client.get("/api/echo").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="scope_audit_read"))
    assert api_client.get("/api/echo").status_code == 200


def test_anonymous_access_only_from_configured_network(api_client, settings):
    assert api_client.post("/api/echo", {}, format="json").status_code == 401
    settings.INTEGRATION_API_ANONYMOUS_NETWORKS = ["10.0.0.0/8"]
    assert (
        api_client.post("/api/echo", {}, format="json", REMOTE_ADDR="10.1.2.3").status_code == 201
    )
    assert (
        api_client.post("/api/echo", {}, format="json", REMOTE_ADDR="192.0.2.1").status_code == 401
    )
    # Reading the trail is not part of the Integration API, so it never opens anonymously.
    assert api_client.get("/api/echo", REMOTE_ADDR="10.1.2.3").status_code == 401


def test_spoofed_forwarded_for_cannot_reach_anonymous_network(api_client, settings):
    settings.INTEGRATION_API_ANONYMOUS_NETWORKS = ["10.0.0.0/8"]
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    response = api_client.post(
        "/api/echo", {}, format="json", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.1.2.3"
    )
    assert response.status_code == 401


def test_body_that_is_not_json_gets_400_naming_the_problem(token_client):
    client = token_client("audit:write")
    response = client.post("/api/echo", data="{not json", content_type="application/json")
    assert response.status_code == 400
    # The platform's one parser (integration_site.parsers) words it as the audit API did.
    assert response.json()["message"].startswith("Request body is not valid JSON")


def test_oversized_body_gets_413_json(token_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client = token_client("audit:write")
    response = client.post(
        "/api/echo", data='{"x": "' + "a" * 4096 + '"}', content_type="application/json"
    )
    assert response.status_code == 413
    assert "API_MAX_BODY_BYTES" in response.json()["message"]


def test_unexpected_error_is_json_500_without_traceback(token_client):
    client = token_client("audit:read")
    client.raise_request_exception = False
    response = client.get("/api/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "server_error"
    assert "deliberate" not in response.content.decode()


def test_unknown_api_path_is_json_404(api_client):
    response = api_client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["message"] == "No such API path."


def test_request_id_is_echoed_or_generated(api_client):
    response = api_client.get("/api/echo", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    generated = api_client.get("/api/echo")["X-Request-ID"]
    assert len(generated) == 36
    # Header injection attempts are replaced, not echoed.
    assert api_client.get("/api/echo", HTTP_X_REQUEST_ID="a\nb")["X-Request-ID"] != "a\nb"


def _basic(username: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_revocation_elsewhere_takes_effect_after_the_token_cache_ttl(
    api_client, make_token, settings
):
    from integration_site.models import ApiToken

    settings.API_TOKEN_CACHE_SECONDS = 300
    token, secret = make_token("audit:read")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api_client.get("/api/echo").status_code == 200
    # Another process revokes it: this process still trusts its cached copy...
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert api_client.get("/api/echo").status_code == 200
    # ...until the cache is off or expired.
    settings.API_TOKEN_CACHE_SECONDS = 0
    assert api_client.get("/api/echo").status_code == 401


class CountingBackend(ModelBackend):
    """Django's own backend, counting the password checks it is asked for."""

    calls = 0

    def authenticate(self, request, username=None, password=None, **kwargs):
        type(self).calls += 1
        return super().authenticate(request, username=username, password=password, **kwargs)


@pytest.fixture
def counted_basic(settings, django_user_model):
    from integration_site.authentication import basic_auth_cache_clear

    basic_auth_cache_clear()
    CountingBackend.calls = 0
    settings.AUTHENTICATION_BACKENDS = [f"{__name__}.CountingBackend"]
    settings.BASIC_AUTH_CACHE_SECONDS = 300
    user = django_user_model.objects.create_superuser("hammer", password="first-pass-phrase")
    yield user
    basic_auth_cache_clear()


def test_basic_auth_checks_the_password_once_then_trusts_the_cache(api_client, counted_basic):
    api_client.credentials(HTTP_AUTHORIZATION=_basic("hammer", "first-pass-phrase"))
    assert [api_client.get("/api/echo").status_code for _ in range(3)] == [200, 200, 200]
    assert CountingBackend.calls == 1
    # A wrong password is never answered from the cache.
    api_client.credentials(HTTP_AUTHORIZATION=_basic("hammer", "first-pass-phrasE"))
    assert api_client.get("/api/echo").status_code == 401
    assert CountingBackend.calls == 2


def test_basic_auth_cache_misses_once_the_password_changes(api_client, counted_basic):
    api_client.credentials(HTTP_AUTHORIZATION=_basic("hammer", "first-pass-phrase"))
    assert api_client.get("/api/echo").status_code == 200
    counted_basic.set_password("second-pass-phrase")
    counted_basic.save()
    assert api_client.get("/api/echo").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=_basic("hammer", "second-pass-phrase"))
    assert api_client.get("/api/echo").status_code == 200


def test_basic_auth_cache_misses_once_the_user_is_deactivated(api_client, counted_basic):
    api_client.credentials(HTTP_AUTHORIZATION=_basic("hammer", "first-pass-phrase"))
    assert api_client.get("/api/echo").status_code == 200
    counted_basic.is_active = False
    counted_basic.save()
    assert api_client.get("/api/echo").status_code == 401


def test_basic_auth_cache_can_be_switched_off(api_client, counted_basic, settings):
    settings.BASIC_AUTH_CACHE_SECONDS = 0
    api_client.credentials(HTTP_AUTHORIZATION=_basic("hammer", "first-pass-phrase"))
    assert [api_client.get("/api/echo").status_code for _ in range(2)] == [200, 200]
    assert CountingBackend.calls == 2
