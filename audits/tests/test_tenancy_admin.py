"""
Retraced's tenancy in the admin and the Foreman API: the audit list filters by project,
environment and group; projects and environments are managed in the admin (ids fixed once
made, not deleted while in use); API tokens are given a project and environment that exist.
"""

import pytest
from django.test import Client

from audits.models import AuditEvent, Environment, Project
from audits.services import audit_event_build, audit_events_append
from integration_site.models import ApiToken

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/audits/auditevent/"


@pytest.fixture
def admin(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def acme(db) -> Project:
    project = Project.objects.create(pk="acme", name="Acme")
    Environment.objects.create(project=project, slug="staging", name="Staging")
    return project


def record(action: str, *, project="default", environment="production", group_id="") -> AuditEvent:
    event = audit_event_build(action=action, group_id=group_id)
    event.project, event.environment = project, environment
    return audit_events_append([event])[0]


@pytest.fixture
def tenants(acme):
    record("default.one", group_id="g1")
    record("default.two", group_id="g2")
    record("acme.one", project="acme", environment="staging", group_id="g1")


def listed(response) -> set[str]:
    # The result rows only: the sidebar's "By action" lists every action.
    html = response.content.decode()
    html = html[html.index('id="result_list"') :]
    html = html[: html.index("</table>")]
    return {a for a in ("default.one", "default.two", "acme.one") if a in html}


def test_changelist_filters_by_project_and_environment(admin, tenants):
    response = admin.get(CHANGELIST)
    html = response.content.decode()
    assert "By project" in html and "By environment" in html
    assert listed(admin.get(CHANGELIST, {"project": "acme"})) == {"acme.one"}
    assert listed(admin.get(CHANGELIST, {"project": "default"})) == {"default.one", "default.two"}
    assert listed(admin.get(CHANGELIST, {"environment": "staging"})) == {"acme.one"}


def test_changelist_environment_choices_follow_the_chosen_project(admin, tenants):
    html = admin.get(CHANGELIST, {"project": "default"}).content.decode()
    assert "environment=production" in html and "environment=staging" not in html


def test_changelist_finds_a_group_by_search_and_by_parameter(admin, tenants):
    by_search = admin.get(CHANGELIST, {"q": "group_id = g1 and project = default"})
    assert listed(by_search) == {"default.one"}
    by_parameter = admin.get(CHANGELIST, {"project": "default", "group_id": "g2"})
    assert listed(by_parameter) == {"default.two"}


def test_detail_links_to_the_events_of_the_same_group(admin, tenants):
    event = AuditEvent.objects.get(action="acme.one")
    html = admin.get(f"{CHANGELIST}{event.pk}/change/").content.decode()
    assert "acme / staging" in html
    assert "project=acme&amp;environment=staging&amp;group_id=g1" in html


def test_foreman_api_filters_by_tenancy(token_client, tenants):
    client = token_client("audit:read")

    def actions(params):
        response = client.get("/api/audits", params)
        assert response.status_code == 200, response.content
        return {row["action"] for row in response.json()["results"]} & {
            "default.one",
            "default.two",
            "acme.one",
        }

    assert actions({"project": "acme"}) == {"acme.one"}
    assert actions({"project": "default", "group_id": "g1"}) == {"default.one"}
    assert actions({"environment": "staging"}) == {"acme.one"}
    assert actions({"search": "project = acme or group_id = g2"}) == {"acme.one", "default.two"}
    assert actions({"search": "environment = production and group_id = g1"}) == {"default.one"}


def test_search_completes_project_and_environment_from_their_tables(token_client, acme):
    client = token_client("audit:read")

    def labels(search):
        response = client.get("/api/audits/auto_complete_search", {"search": search})
        assert response.status_code == 200, response.content
        return [item["label"] for item in response.json()]

    assert any("acme" in label for label in labels("project = a"))
    assert any("staging" in label for label in labels("environment = s"))


# --- Project and Environment admin pages -------------------------------------------------


def test_project_is_created_in_the_admin_and_its_id_is_then_fixed(admin):
    response = admin.post("/admin/audits/project/add/", {"id": "shop", "name": "Shop"})
    assert response.status_code == 302
    assert Project.objects.get(pk="shop").name == "Shop"
    response = admin.post("/admin/audits/project/shop/change/", {"id": "renamed", "name": "S2"})
    assert response.status_code == 302
    assert Project.objects.get(pk="shop").name == "S2"
    assert not Project.objects.filter(pk="renamed").exists()


def test_project_in_use_cannot_be_deleted_and_an_unused_one_can(admin, acme):
    record("acme.event", project="acme", environment="staging")
    assert admin.get("/admin/audits/project/acme/delete/").status_code == 403
    response = admin.post(
        "/admin/audits/project/",
        {"action": "delete_selected", "_selected_action": ["acme"], "post": "yes"},
    )
    # The bulk action's page names what may not be deleted, and deletes nothing.
    assert response.status_code == 200
    assert Project.objects.filter(pk="acme").exists()
    Project.objects.create(pk="unused", name="Unused")
    response = admin.post("/admin/audits/project/unused/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert not Project.objects.filter(pk="unused").exists()


def test_project_of_a_token_cannot_be_deleted(admin, acme, make_token):
    Environment.objects.filter(project=acme).delete()
    Environment.objects.create(project=acme, slug="production", name="Production")
    make_token("audit:write", project="acme", environment="production")
    assert admin.get("/admin/audits/project/acme/delete/").status_code == 403


def test_environment_slug_and_project_are_fixed_and_in_use_ones_kept(admin, acme):
    environment = Environment.objects.get(project=acme, slug="staging")
    url = f"/admin/audits/environment/{environment.pk}/change/"
    response = admin.post(url, {"project": "default", "slug": "other", "name": "Renamed"})
    assert response.status_code == 302
    environment.refresh_from_db()
    assert (environment.project_id, environment.slug, environment.name) == (
        "acme",
        "staging",
        "Renamed",
    )
    record("acme.event", project="acme", environment="staging")
    assert admin.get(f"/admin/audits/environment/{environment.pk}/delete/").status_code == 403
    # Nor in bulk: the list offers no delete action, which would not check the events.
    admin.post(
        "/admin/audits/environment/",
        {"action": "delete_selected", "_selected_action": [environment.pk], "post": "yes"},
    )
    assert Environment.objects.filter(pk=environment.pk).exists()
    assert b"delete_selected" not in admin.get("/admin/audits/environment/").content


# --- API tokens ------------------------------------------------------------------------


def test_token_admin_creates_a_token_in_a_project_and_environment(admin, acme):
    response = admin.post(
        "/admin/integration_site/apitoken/add/",
        {
            "name": "acme-writer",
            "scopes": ["audit:write"],
            "project": "acme",
            "environment": "staging",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    token = ApiToken.objects.get(name="acme-writer")
    assert (token.project, token.environment) == ("acme", "staging")
    html = admin.get(f"/admin/integration_site/apitoken/{token.pk}/change/").content.decode()
    assert "acme" in html and "staging" in html


@pytest.mark.parametrize(
    ("project", "environment", "message"),
    [("nope", "production", "No project"), ("acme", "production", "has no environment")],
)
def test_token_admin_refuses_a_tenancy_that_does_not_exist(
    admin, acme, project, environment, message
):
    response = admin.post(
        "/admin/integration_site/apitoken/add/",
        {"name": "bad", "scopes": ["audit:write"], "project": project, "environment": environment},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ApiToken.objects.filter(name="bad").exists()
