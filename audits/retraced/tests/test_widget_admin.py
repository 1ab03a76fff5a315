"""The console's "View as customer": the Groups page, a group's log page and its token refresh."""

import json
import re
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audits.context import AuditActor, AuditTarget
from audits.models import AuditEvent, Crud, Environment, Project
from audits.retraced import admin as widget_admin
from audits.services import audit_event_record

GROUPS_URL = "/admin/audits/auditevent/groups/"
LOG_URL = "/admin/audits/auditevent/groups/log/"
TOKEN_URL = "/admin/audits/auditevent/groups/log/token/"


def record(group_id: str, group_name: str = "", action: str = "document.create", **kwargs):
    return audit_event_record(
        action=action,
        crud=Crud.CREATE,
        actor=AuditActor(type="User", id="alice", name="Alice"),
        target=AuditTarget(type="document", id="d1", name="Report"),
        group_id=group_id,
        group_name=group_name,
        **kwargs,
    )


@pytest.fixture
def staff_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def widget_attributes(html: str) -> dict[str, str]:
    element = re.search(r"<div id=\"retraced-logs-viewer\"(.*?)></div>", html, re.S)
    assert element, html
    return {
        name: unescape(value)
        for name, value in re.findall(r"data-([a-z-]+)=\"([^\"]*)\"", element[1])
    }


def session_for(token: str) -> dict:
    response = Client().post(
        "/viewer/v1/viewersession", {"token": token}, content_type="application/json"
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


@pytest.mark.django_db
def test_groups_page_lists_recent_groups_with_view_as_customer_links(staff_client):
    record("acme", "Acme Corp")
    record("acme", "Acme Corp")
    record("globex", "Globex")
    record("")  # the site's own events name no group

    response = staff_client.get(GROUPS_URL)

    assert response.status_code == 200
    groups = {group["group_id"]: group for group in response.context["groups"]}
    assert set(groups) == {"acme", "globex"}
    assert groups["acme"]["events"] == 2
    assert groups["acme"]["name"] == "Acme Corp"
    html = response.content.decode()
    assert "View as customer" in html
    assert "project=default&amp;environment=production&amp;group=acme" in html


@pytest.mark.django_db
def test_groups_page_looks_only_at_the_newest_events(staff_client, monkeypatch):
    record("old-group")
    for _ in range(3):
        record("new-group")
    monkeypatch.setattr(widget_admin, "GROUPS_SCANNED", 3)

    response = staff_client.get(GROUPS_URL)

    assert [group["group_id"] for group in response.context["groups"]] == ["new-group"]


@pytest.mark.django_db
def test_groups_page_reads_the_trail_through_one_bounded_scan(staff_client):
    record("acme")
    with CaptureQueriesContext(connection) as captured:
        assert staff_client.get(GROUPS_URL).status_code == 200
    grouped = [q["sql"] for q in captured.captured_queries if "GROUP BY" in q["sql"].upper()]
    assert len(grouped) == 1
    # The GROUP BY runs over the newest GROUPS_SCANNED rows only, and lists at most 100.
    assert f"LIMIT {widget_admin.GROUPS_SCANNED}" in grouped[0].upper()
    assert grouped[0].upper().rstrip().endswith(f"LIMIT {widget_admin.GROUPS_LISTED}")


@pytest.mark.django_db
def test_group_log_page_renders_the_widget_with_a_working_viewer_token(staff_client):
    record("acme", "Acme Corp")

    response = staff_client.get(LOG_URL, {"group": "acme"})

    assert response.status_code == 200
    attributes = widget_attributes(response.content.decode())
    assert attributes["host"] == "http://testserver/viewer/v1"
    assert attributes["refresh-url"] == f"{TOKEN_URL}?group=acme"
    assert attributes["csrf-token"]
    assert "/static/audits/retraced/logs-viewer.js" in response.content.decode()
    # The token is a real viewer token of the default project.
    assert session_for(attributes["audit-log-token"])["project_id"] == "default"


@pytest.mark.django_db
def test_group_log_page_names_a_missing_or_unknown_tenancy(staff_client):
    no_group = staff_client.get(LOG_URL)
    assert no_group.status_code == 400
    assert "Name a group" in no_group.content.decode()

    unknown = staff_client.get(LOG_URL, {"group": "acme", "environment": "staging"})
    assert unknown.status_code == 400
    assert "No environment &#x27;staging&#x27; in project &#x27;default&#x27;" in (
        unknown.content.decode()
    )

    too_long = staff_client.get(LOG_URL, {"group": "g" * 256})
    assert too_long.status_code == 400


@pytest.mark.django_db
def test_group_log_page_of_another_project(staff_client):
    project = Project.objects.create(id="shop", name="Shop")
    Environment.objects.create(project=project, slug="staging", name="Staging")

    response = staff_client.get(
        LOG_URL, {"project": "shop", "environment": "staging", "group": "g"}
    )

    assert response.status_code == 200
    token = widget_attributes(response.content.decode())["audit-log-token"]
    assert session_for(token)["project_id"] == "shop"


@pytest.mark.django_db
def test_group_log_page_says_how_to_build_a_missing_bundle(staff_client, monkeypatch):
    monkeypatch.setattr(widget_admin, "LOGS_VIEWER_BUNDLE", "audits/retraced/not-built.js")

    response = staff_client.get(LOG_URL, {"group": "acme"})

    html = response.content.decode()
    assert "scripts/build_js.sh" in html
    assert "data-retraced-logs-viewer" not in html


@pytest.mark.django_db
def test_token_refresh_mints_a_new_token_on_post_only(superuser):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    page = client.get(LOG_URL, {"group": "acme"})
    attributes = widget_attributes(page.content.decode())

    assert client.get(TOKEN_URL, {"group": "acme"}).status_code == 405
    assert client.post(f"{TOKEN_URL}?group=acme").status_code == 403  # no CSRF token
    refreshed = client.post(f"{TOKEN_URL}?group=acme", HTTP_X_CSRFTOKEN=attributes["csrf-token"])

    assert refreshed.status_code == 200
    token = refreshed.json()["token"]
    assert token != attributes["audit-log-token"]
    assert session_for(token)["project_id"] == "default"
    missing = client.post(TOKEN_URL, HTTP_X_CSRFTOKEN=attributes["csrf-token"])
    assert missing.status_code == 400
    assert "Name a group" in json.loads(missing.content)["message"]


@pytest.mark.django_db
def test_widget_pages_are_staff_only(django_user_model):
    anonymous = Client()
    for url in (GROUPS_URL, f"{LOG_URL}?group=acme"):
        response = anonymous.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    assert anonymous.post(f"{TOKEN_URL}?group=acme").status_code == 302

    # Staff without the audit list's view permission see none of it either.
    staff = django_user_model.objects.create_user("bob", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(f"{LOG_URL}?group=acme").status_code == 403
    assert client.get(GROUPS_URL).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(staff)
    assert client.get(f"{LOG_URL}?group=acme").status_code == 200


@pytest.mark.django_db
def test_audit_list_and_event_page_open_the_group_as_the_customer(staff_client):
    event = record("acme", "Acme Corp")
    record("globex")
    changelist = reverse("admin:audits_auditevent_changelist")

    filtered = staff_client.get(changelist, {"group_id": "acme"})
    assert filtered.status_code == 200
    assert list(filtered.context["cl"].result_list) == [event]
    assert (
        f'href="{LOG_URL}?project=default&amp;environment=production&amp;group=acme"'
        in filtered.content.decode()
    )
    unfiltered = staff_client.get(changelist)
    assert "view-as-customer" not in unfiltered.content.decode()

    detail = staff_client.get(reverse("admin:audits_auditevent_change", args=[event.pk]))
    links = dict(detail.context["links"])
    assert links["View as customer"] == (
        f"{LOG_URL}?project=default&environment=production&group=acme"
    )
    assert staff_client.get(links["Same group"]).context["cl"].result_list[0] == event
    ungrouped = AuditEvent.objects.filter(group_id="").first() or record("")
    ungrouped_detail = staff_client.get(
        reverse("admin:audits_auditevent_change", args=[ungrouped.pk])
    )
    assert "View as customer" not in dict(ungrouped_detail.context["links"])
