"""
The ingest fast path (integration_site.fast_path.IngestFastPathMiddleware): what it answers
itself, and that everything else, and every safeguard of the middleware it skips, still
applies.
"""

import json

import pytest
from django.conf import settings as django_settings

from audits.audit_api import AuditEventIngestView
from audits.retraced.publisher import PublisherEventView
from integration_site.fast_path import fast_path_route
from monitoring.models import AcceptedResult
from monitoring.sensu.views import ResultsView

RESULT = json.dumps({"name": "backup", "output": "failed", "status": 2})

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer(token_client):
    return token_client("monitoring:write")


def post_result(client, **extra):
    return client.post("/results", data=RESULT, content_type="application/json", **extra)


def test_only_literal_routes_of_fast_path_views_are_served():
    urlconf = django_settings.ROOT_URLCONF
    assert fast_path_route("/results", urlconf) == (ResultsView, {})
    assert fast_path_route("/audit/v1/event", urlconf) == (AuditEventIngestView, {})
    # The path's arguments travel with the view: the publisher's fast_post reads project_id.
    assert fast_path_route("/publisher/v1/project/acme/event", urlconf) == (
        PublisherEventView,
        {"project_id": "acme"},
    )
    assert fast_path_route("/publisher/v1/project/acme/event/bulk", urlconf) is None
    assert fast_path_route("/events", urlconf) is None  # a view without a fast path
    assert fast_path_route("/no/such/path", urlconf) is None
    assert fast_path_route("/results/", urlconf) is None


def test_a_plain_valid_post_is_answered_before_drf_with_the_outer_middlewares_headers(
    writer, through_drf
):
    response = post_result(writer, HTTP_X_REQUEST_ID="req-fast-1")
    assert response.status_code == 202
    assert through_drf == []
    assert response["X-Request-ID"] == "req-fast-1"  # RequestContextMiddleware ran
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware ran
    assert response["Allow"] == "GET, POST, HEAD, OPTIONS"  # as DRF would answer
    assert AcceptedResult.objects.get().check_data["output"] == "failed"


def test_a_host_outside_allowed_hosts_is_refused_not_served(writer, through_drf, settings):
    settings.ALLOWED_HOSTS = ["integration.example.com"]
    response = post_result(writer, HTTP_HOST="evil.example.net")
    assert response.status_code == 400
    assert not AcceptedResult.objects.exists()


def test_https_redirect_still_applies(writer, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = post_result(writer)
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert not AcceptedResult.objects.exists()


def test_a_token_without_the_scope_goes_through_drf_and_gets_its_403(token_client, through_drf):
    response = post_result(token_client("monitoring:read"))
    assert response.status_code == 403
    assert through_drf == [1]
    assert "monitoring:write" in response.json()["message"]
    assert not AcceptedResult.objects.exists()


def test_a_revoked_token_goes_through_drf_and_gets_its_401(make_token, api_client, through_drf):
    from integration_site.services import api_token_revoke

    token, secret = make_token("monitoring:write")
    api_token_revoke(token=token)
    response = post_result(api_client, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 401
    assert through_drf == [1]
    assert not AcceptedResult.objects.exists()


def test_a_session_user_takes_the_usual_path_with_csrf_enforced(superuser, through_drf):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(superuser)
    response = post_result(browser)
    assert through_drf == [1]
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
    assert not AcceptedResult.objects.exists()
