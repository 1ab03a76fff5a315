"""
The console's Retraced credential pages: enterprise tokens (list, read-only page, delete
through the service), viewer tokens and saved exports (read-only). No page ever shows a
secret, a sealed secret or a digest, each list's SQL is bounded, and the model permissions
decide who sees and deletes what.
"""

import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from audits.models import (
    AuditEvent,
    RetracedEnterpriseToken,
    RetracedSavedExport,
    RetracedViewerDescriptor,
)
from audits.retraced.viewer_services import enterprise_token_create, viewer_token_create

pytestmark = pytest.mark.django_db

TOKENS = "/admin/audits/retracedenterprisetoken/"
VIEWER_TOKENS = "/admin/audits/retracedviewerdescriptor/"
EXPORTS = "/admin/audits/retracedsavedexport/"
SEARCH = 'query { search(query: "", last: 5) { totalCount } }'
# SELECT COUNT(*) FROM (SELECT ... LIMIT n) subquery: bounded whatever the table's size.
BOUNDED_COUNT = re.compile(r"COUNT\(.*\)\s+FROM\s+\(SELECT\b.*\bLIMIT\s+\d+\s*\)", re.S)


@pytest.fixture
def console(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def _token(group_id: str = "acme", name: str = "Splunk") -> tuple[RetracedEnterpriseToken, str]:
    return enterprise_token_create(
        project="default", environment="production", group_id=group_id, display_name=name
    )


def _viewer_token(group_id: str = "acme") -> str:
    return viewer_token_create(
        project="default", environment="production", group_id=group_id, actor_id="c@acme"
    )


def _export(group_id: str = "acme", name: str = "Logins") -> RetracedSavedExport:
    return RetracedSavedExport.objects.create(
        project="default",
        environment="production",
        group_id=group_id,
        name=name,
        body={"version": 1, "exportName": name, "searchQuery": "action:user.login"},
    )


def _enterprise_search(secret: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"token={secret}")
    return client.post("/enterprise/v1/graphql", {"query": SEARCH}, format="json")


def _rows(count: int) -> None:
    for index in range(count):
        _token(f"group-{index}", f"SIEM {index}")
        _viewer_token(f"group-{index}")
        _export(f"group-{index}", f"Export {index}")


def _list_sql(console: Client, url: str, params: dict | None = None) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = console.get(url, params or {})
    assert response.status_code == 200, response.content
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize("url", [TOKENS, VIEWER_TOKENS, EXPORTS])
@pytest.mark.parametrize(
    "params",
    [{}, {"project": "default", "environment": "production"}, {"q": "group-1"}],
    ids=["unfiltered", "filtered", "search"],
)
def test_each_list_runs_bounded_sql_whatever_its_rows(tenancy, console, url, params):
    _rows(2)
    few = _list_sql(console, url, params)
    _rows(20)
    many = _list_sql(console, url, params)
    # No query per row, and every COUNT counts a LIMIT-ed subquery.
    assert len(many) == len(few)
    for statement in many:
        if "COUNT(" in statement.upper():
            assert BOUNDED_COUNT.search(statement.upper()), statement


def test_lists_show_their_rows_and_filters(tenancy, console):
    _token("acme", "Splunk at Acme")
    _token("globex", "Sumo at Globex")
    html = console.get(TOKENS, {"q": "acme"}).content.decode()
    assert "Splunk at Acme" in html and "Sumo at Globex" not in html
    html = console.get(TOKENS, {"project": "other"}).content.decode()
    assert "Splunk at Acme" not in html
    _viewer_token("acme")
    assert "c@acme" in console.get(VIEWER_TOKENS).content.decode()
    _export("acme", "Weekly logins")
    assert "Weekly logins" in console.get(EXPORTS).content.decode()
    index = console.get("/admin/").content.decode()
    for url in (TOKENS, VIEWER_TOKENS, EXPORTS):
        assert f'href="{url}"' in index


def test_no_page_shows_a_secret_sealed_value_or_digest(tenancy, console):
    token, secret = _token()
    viewer_token = _viewer_token()
    descriptor = RetracedViewerDescriptor.objects.get()
    export = _export()
    pages = [
        TOKENS,
        f"{TOKENS}{token.pk}/change/",
        f"{TOKENS}{token.pk}/delete/",
        VIEWER_TOKENS,
        f"{VIEWER_TOKENS}{descriptor.pk}/change/",
        EXPORTS,
        f"{EXPORTS}{export.pk}/change/",
    ]
    forbidden = [secret, token.sealed_secret, token.digest, viewer_token, descriptor.digest]
    for page in pages:
        response = console.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        for value in forbidden:
            assert value not in html, page
    # The token is shown by its public id, and the delete form confirms by it.
    assert token.pk in console.get(f"{TOKENS}{token.pk}/change/").content.decode()
    assert _enterprise_search(secret).status_code == 200


def test_pages_are_read_only_with_no_add(tenancy, console):
    token, _ = _token()
    _viewer_token()
    descriptor_id = RetracedViewerDescriptor.objects.get().pk
    export = _export()
    for url in (TOKENS, VIEWER_TOKENS, EXPORTS):
        assert console.get(f"{url}add/").status_code == 403
    response = console.post(f"{TOKENS}{token.pk}/change/", {"display_name": "renamed"})
    assert response.status_code == 403
    assert RetracedEnterpriseToken.objects.get().display_name == "Splunk"
    # Viewer tokens and saved exports are deleted only by the purge and the viewer's routes.
    assert console.get(f"{VIEWER_TOKENS}{descriptor_id}/delete/").status_code == 403
    assert console.get(f"{EXPORTS}{export.pk}/delete/").status_code == 403


def _assert_deleted_and_recorded(token: RetracedEnterpriseToken, secret: str, username: str):
    assert not RetracedEnterpriseToken.objects.filter(pk=token.pk).exists()
    event = AuditEvent.objects.get(action="eitapi_token.delete", target_id=token.pk)
    assert (event.project, event.environment, event.group_id) == (
        "default",
        "production",
        token.group_id,
    )
    assert event.crud == "d" and event.actor_id == f"console:{username}"
    response = _enterprise_search(secret)
    assert response.status_code == 401, response.content


def test_deleting_a_token_records_it_and_the_token_stops_working(tenancy, console):
    token, secret = _token()
    assert _enterprise_search(secret).status_code == 200

    response = console.post(f"{TOKENS}{token.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    _assert_deleted_and_recorded(token, secret, "root")


def test_the_bulk_delete_action_goes_through_the_service(tenancy, console):
    first, first_secret = _token("acme")
    second, second_secret = _token("globex")
    _kept, kept_secret = _token("initech")

    response = console.post(
        TOKENS,
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )

    assert response.status_code == 302
    _assert_deleted_and_recorded(first, first_secret, "root")
    _assert_deleted_and_recorded(second, second_secret, "root")
    assert _enterprise_search(kept_secret).status_code == 200


def test_staff_see_and_delete_only_what_their_permissions_allow(tenancy, django_user_model):
    token, secret = _token()
    _viewer_token()
    _export()
    staff = django_user_model.objects.create_user("bob", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    for url in (TOKENS, f"{TOKENS}{token.pk}/change/", VIEWER_TOKENS, EXPORTS):
        assert client.get(url).status_code == 403, url
    assert "Retraced enterprise token" not in client.get("/admin/").content.decode()

    staff.user_permissions.add(
        *Permission.objects.filter(
            codename__in=[
                "view_retracedenterprisetoken",
                "view_retracedviewerdescriptor",
                "view_retracedsavedexport",
            ]
        )
    )
    client.force_login(staff)
    for url in (TOKENS, f"{TOKENS}{token.pk}/change/", VIEWER_TOKENS, EXPORTS):
        assert client.get(url).status_code == 200, url
    # Viewing is not deleting.
    assert client.post(f"{TOKENS}{token.pk}/delete/", {"post": "yes"}).status_code == 403
    assert _enterprise_search(secret).status_code == 200

    staff.user_permissions.add(Permission.objects.get(codename="delete_retracedenterprisetoken"))
    client.force_login(staff)
    assert client.post(f"{TOKENS}{token.pk}/delete/", {"post": "yes"}).status_code == 302
    _assert_deleted_and_recorded(token, secret, "bob")
