"""Fixtures of the Retraced viewer and enterprise tests: two projects, tokens, sessions."""

import pytest
from rest_framework.test import APIClient

from audits.models import Environment, Project
from audits.retraced.viewer_services import enterprise_token_create, viewer_token_create
from audits.tenancy import default_tenancy_ensure


@pytest.fixture
def tenancy(db):
    """The default project and a second one, `other`, each with `production`."""
    default_tenancy_ensure()
    other = Project.objects.create(pk="other", name="Other vendor app")
    Environment.objects.create(project=other, slug="production", name="Production")


@pytest.fixture
def publisher(tenancy, make_token):
    """A client with an audit:read API token of the default project."""
    _, secret = make_token("audit:read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token={secret}")
    return client


@pytest.fixture
def viewer_session(tenancy):
    """viewer_session("group-a", target_id=...) -> an APIClient holding a viewer session."""

    def make(group_id: str, *, actor_id: str = "customer@a", project: str = "default", **kwargs):
        token = viewer_token_create(
            project=project,
            environment="production",
            group_id=group_id,
            actor_id=actor_id,
            **kwargs,
        )
        client = APIClient()
        response = client.post("/viewer/v1/viewersession", {"token": token}, format="json")
        assert response.status_code == 200, response.content
        client.credentials(HTTP_AUTHORIZATION=response.json()["token"])
        client.jwt = response.json()["token"]
        return client

    return make


@pytest.fixture
def enterprise_client(tenancy):
    """enterprise_client("group-a") -> an APIClient holding that group's enterprise token."""

    def make(group_id: str, *, project: str = "default"):
        token, secret = enterprise_token_create(
            project=project, environment="production", group_id=group_id, display_name="SIEM"
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"token={secret}")
        client.token = token
        return client

    return make
