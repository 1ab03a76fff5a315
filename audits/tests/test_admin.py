"""The audit admin: read-only changelist, filters, detail page, escaping, export, verification
(the export and verification jobs themselves: test_jobs.py)."""

import csv
import io
import json
from datetime import UTC, datetime
from unittest.mock import patch

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils.http import urlencode

from audits.context import AuditActor, AuditTarget
from audits.models import ActorType, AuditEvent, AuditVerification, Crud
from audits.services import audit_event_record

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/audits/auditevent/"
EVIL = "evil\n2026-01-01 admin login ok\x1b[31m <script>alert('x')</script>\u202e"


@pytest.fixture
def admin(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def host_update(**kwargs) -> AuditEvent:
    return audit_event_record(
        action="update",
        crud=Crud.UPDATE,
        target=AuditTarget(type="Host::Base", id="57", name="web1.example.com"),
        audited_changes={"comment": ["old text", "new text"], "build": [False, True]},
        request_uuid="req-aaa",
        **kwargs,
    )


def test_changelist_shows_columns_and_filters(admin):
    host_update()
    response = admin.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    for heading in (
        "time",
        "action",
        "user",
        "target",
        "source",
        "remote_address".replace("_", " "),
    ):
        assert heading in html.lower()
    for title in ("By action", "By source", "By target type", "By user", "By date range"):
        assert title in html
    assert "Host::Base web1.example.com" in html
    # The date hierarchy and the export / verify tools.
    assert 'class="xfull"' in html or "date-hierarchy" in html or "toplinks" in html
    assert "Export CSV" in html and "Export JSON Lines" in html and "Verify chain" in html


def test_no_add_change_or_delete(admin):
    event = host_update()
    assert admin.get(f"{CHANGELIST}add/").status_code == 403
    assert admin.post(f"{CHANGELIST}{event.pk}/delete/").status_code == 403
    assert admin.post(f"{CHANGELIST}{event.pk}/change/", {"action": "x"}).status_code == 200
    event.refresh_from_db()
    assert event.action == "update"
    html = admin.get(CHANGELIST).content.decode()
    assert 'name="action"' not in html or "delete_selected" not in html


def test_filters_by_source_target_type_user_and_date_range(admin):
    host_update()
    audit_event_record(action="other", target=AuditTarget(type="License", id="1"))
    one = admin.get(CHANGELIST, {"target_type__exact": "Host::Base"}).content.decode()
    assert "web1.example.com" in one and "License" not in one.split("result_list")[1]
    assert admin.get(CHANGELIST, {"source__exact": "site"}).status_code == 200
    assert admin.get(CHANGELIST, {"actor_name__exact": "system"}).status_code == 200
    today = datetime.now(UTC).date().isoformat()
    inside = admin.get(CHANGELIST, {"created_at__range_from": today, "created_at__range_to": today})
    assert "web1.example.com" in inside.content.decode()
    outside = admin.get(CHANGELIST, {"created_at__range_to": "2000-01-01"})
    assert "web1.example.com" not in outside.content.decode().split("result_list")[-1]
    bad = admin.get(CHANGELIST, {"created_at__range_from": "yesterday"})
    assert bad.status_code == 200
    assert "is not a date" in bad.content.decode()


def test_date_hierarchy_drilldown(admin):
    host_update()
    now = datetime.now(UTC)
    response = admin.get(
        CHANGELIST,
        {"created_at__year": now.year, "created_at__month": now.month, "created_at__day": now.day},
    )
    assert response.status_code == 200
    assert "web1.example.com" in response.content.decode()


def test_detail_page_shows_old_new_table_and_filter_links(admin):
    event = host_update()
    response = admin.get(f"{CHANGELIST}{event.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        '<td>comment</td><td class="show-old">old text</td><td class="show-new">new text</td>'
        in html
    )
    assert '<td class="show-old">false</td><td class="show-new">true</td>' in html
    assert f"{CHANGELIST}?request_uuid=req-aaa" in html
    assert f"{CHANGELIST}?target_type__exact=Host%3A%3ABase&amp;target_id=57" in html
    assert f"{CHANGELIST}?actor_name__exact=system" in html
    # The links filter the list.
    assert "web1.example.com" in admin.get(CHANGELIST, {"request_uuid": "req-aaa"}).content.decode()


def test_detail_of_create_event_shows_new_values_only(admin):
    event = audit_event_record(
        action="create",
        crud=Crud.CREATE,
        audited_changes={"name": "x"},
        target=AuditTarget(type="Host::Base", id="1"),
    )
    html = admin.get(f"{CHANGELIST}{event.pk}/change/").content.decode()
    assert '<td>name</td><td class="show-old"></td><td class="show-new">x</td>' in html


def test_missing_event_redirects(admin):
    assert admin.get(f"{CHANGELIST}999999/change/").status_code == 302


def test_control_characters_and_html_are_rendered_escaped(admin):
    event = audit_event_record(
        action=EVIL,
        description=EVIL,
        actor=AuditActor(type=ActorType.INTEGRATION, id="i1", name=EVIL),
        target=AuditTarget(type=EVIL, name=EVIL),
        audited_changes={"note\n": ["a", EVIL]},
        crud=Crud.UPDATE,
    )
    for url in (CHANGELIST, f"{CHANGELIST}{event.pk}/change/"):
        html = admin.get(url).content.decode()
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
        assert "\x1b" not in html and "\u202e" not in html
        assert "evil\\n2026-01-01 admin login ok\\x1b[31m" in html
        assert "\\u202e" in html
    # The sidebar's choices (by action, by target type, by user) show the values the same way.
    html = admin.get(CHANGELIST).content.decode()
    sidebar = html.split('id="changelist-filter"')[1].split("</search>")[0]
    assert "evil\n" not in sidebar and "<script>alert" not in sidebar
    shown = (
        "evil\\n2026-01-01 admin login ok\\x1b[31m"
        " &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;\\u202e"
    )
    for title in ("action", "target type", "user"):
        choices = sidebar.split(f'data-filter-title="{title}"')[1].split("</details>")[0]
        assert shown in choices
    # The choice still filters on the stored value.
    filtered = admin.get(CHANGELIST, {"actor_name__exact": EVIL}).content.decode()
    assert f"{CHANGELIST}{event.pk}/change/" in filtered


def test_pagination_never_counts_past_the_cap(admin):
    for i in range(6):
        audit_event_record(action=f"a{i}")
    with patch("audits.paginator.CappedCountPaginator.count_cap", 3):
        html = admin.get(CHANGELIST, {"source__exact": "site"}).content.decode()
    assert "more than 3 audit events" in html


def test_capped_count_uses_a_limited_subquery(django_assert_max_num_queries):
    from audits.paginator import CappedCountPaginator

    for i in range(3):
        audit_event_record(action=f"a{i}")
    paginator = CappedCountPaginator(AuditEvent.objects.filter(source="site"), 10)
    with django_assert_max_num_queries(2) as captured:  # PostgreSQL's EXPLAIN, the count
        assert paginator.count >= 3
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT 10001" in counts[0]
    assert not paginator.count_is_capped


def run_export(client: Client, fmt: str, params: dict) -> bytes:
    """Start an export from the changelist's button, run its job, download the file."""
    from audits.jobs import audit_export_execute
    from audits.models import AuditExport

    client.post(f"{CHANGELIST}export.{fmt}?{urlencode(params)}")
    export = AuditExport.objects.latest("pk")
    audit_export_execute(export_id=export.pk)
    download = reverse("admin:audits_auditevent_export_download", args=[export.pk])
    return b"".join(client.get(download).streaming_content)


def test_export_csv_defuses_formulas(admin, settings, tmp_path):
    settings.AUDIT_EXPORT_DIR = tmp_path
    audit_event_record(action="other", description='=HYPERLINK("http://x")')
    body = run_export(admin, "csv", {"action__exact": "other"})
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert rows[0]["description"].startswith("'=")


def test_export_json_lines_keeps_one_event_per_line(admin, settings, tmp_path):
    settings.AUDIT_EXPORT_DIR = tmp_path
    audit_event_record(action="evil", description=EVIL)
    lines = run_export(admin, "jsonl", {"action__exact": "evil"}).decode().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["description"] == EVIL


def test_verify_view_refuses_get_and_needs_csrf(superuser):
    # A link or an image on another site must not start a walk of the whole chain.
    assert Client().get(reverse("admin:audits_auditevent_verify")).status_code == 302  # login
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(superuser)
    assert browser.get(reverse("admin:audits_auditevent_verify")).status_code == 405
    assert browser.post(reverse("admin:audits_auditevent_verify")).status_code == 403
    assert not AuditVerification.objects.exists()


def test_verify_view_needs_verify_scope(django_user_model):
    staff = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client = Client()
    client.force_login(staff)
    assert client.post(reverse("admin:audits_auditevent_verify")).status_code == 403
    assert "Verify chain" not in client.get(CHANGELIST).content.decode()


def test_an_unfiltered_count_past_the_cap_is_the_planner_estimate():
    from audits.paginator import CappedCountPaginator

    for i in range(5):
        audit_event_record(action=f"a{i}")
    with (
        patch("audits.paginator.planner_estimate", return_value=2_000_000),
        patch("audits.paginator.CappedCountPaginator.count_cap", 3),
    ):
        paginator = CappedCountPaginator(AuditEvent.objects.all(), 50)
        assert paginator.count == 2_000_000
        assert paginator.count_is_estimate and not paginator.count_is_capped
        # A filtered list past the cap says "more than", never the estimate.
        filtered = CappedCountPaginator(AuditEvent.objects.filter(source="site"), 50)
        assert filtered.count == 4 and filtered.count_is_capped
        assert not filtered.count_is_estimate
        # Within the cap, exact, whatever the estimate.
        few = CappedCountPaginator(AuditEvent.objects.filter(action="a1"), 50)
        assert few.count == 1 and not (few.count_is_capped or few.count_is_estimate)


def test_a_blank_filter_value_is_a_link_with_a_name(admin):
    # Events without a target have a blank target type: its sidebar link must still read as
    # something (an empty link fails the accessibility check), and still filter on "".
    host_update()
    audit_event_record(action="user.login")
    response = admin.get(CHANGELIST)
    [target_types] = [f for f in response.context["cl"].filter_specs if f.title == "target type"]
    choices = {
        c["display"]: c["query_string"] for c in target_types.choices(response.context["cl"])
    }
    assert "(blank)" in choices and "" not in choices
    blank = admin.get(CHANGELIST + choices["(blank)"])
    assert [e.action for e in blank.context["cl"].result_list] == ["user.login"]
