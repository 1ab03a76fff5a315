"""The monitoring admin: events list, bulk Resolve and Silence, clients, dashboard counts."""

import pytest

from audits.models import AuditEvent
from monitoring.engine import result_process
from monitoring.models import CheckResult, Client, Event, Silence
from monitoring.services import client_register, silence_create


def make_events():
    for name in ("web-1", "db-1"):
        client_register(data={"name": name, "address": "10.0.0.1", "keepalives": True})
    result_process(client_name="web-1", check={"name": "http", "status": 1, "output": "slow"})
    result_process(client_name="db-1", check={"name": "disk", "status": 2, "output": "full"})


@pytest.mark.django_db
def test_events_changelist_is_coloured_and_filterable(client, superuser):
    make_events()
    client.force_login(superuser)
    page = client.get("/admin/monitoring/event/").content.decode()
    assert 'class="severity-critical"' in page
    assert 'class="severity-warning"' in page
    assert "console.css" in page
    critical = client.get("/admin/monitoring/event/?status=critical").content.decode()
    assert "full" in critical and "slow" not in critical
    assert "full" not in client.get("/admin/monitoring/event/?client=web-1").content.decode()
    silence_create(subscription="client:db-1", check=None)
    silenced = client.get("/admin/monitoring/event/?silenced=yes").content.decode()
    assert "full" in silenced and "slow" not in silenced
    assert "full" not in client.get("/admin/monitoring/event/?check=http").content.decode()


@pytest.mark.django_db
def test_bulk_resolve_goes_through_the_engine(client, superuser):
    make_events()
    client.force_login(superuser)
    ids = list(Event.objects.values_list("pk", flat=True))
    response = client.post(
        "/admin/monitoring/event/", {"action": "resolve_events", "_selected_action": ids}
    )
    assert response.status_code == 302
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_bulk_silence_asks_for_duration_and_reason(client, superuser):
    make_events()
    client.force_login(superuser)
    event = Event.objects.get(check_name="disk")
    form = client.post(
        "/admin/monitoring/event/", {"action": "silence_events", "_selected_action": [event.pk]}
    )
    assert form.status_code == 200
    assert b"client:db-1:disk" in form.content
    assert b"<script" not in form.content.split(b"<body")[1].split(b"</form>")[0]
    response = client.post(
        "/admin/monitoring/event/",
        {
            "action": "silence_events",
            "_selected_action": [event.pk],
            "apply": "Silence",
            "duration": "900",
            "expire_on_resolve": "on",
            "reason": "disk swap",
        },
    )
    assert response.status_code == 302
    silence = Silence.objects.get(silence_id="client:db-1:disk")
    assert silence.expire == 900
    assert silence.expire_on_resolve is True
    assert silence.reason == "disk swap"
    assert silence.creator == superuser.username


@pytest.mark.django_db
def test_clients_list_and_dashboard_counts(client, superuser):
    make_events()
    client.force_login(superuser)
    clients = client.get("/admin/monitoring/client/").content.decode()
    assert "CRITICAL" in clients and "WARNING" in clients
    assert " s<" in clients  # keepalive age
    index = client.get("/admin/").content.decode()
    assert "Monitoring events" in index
    assert "severity-critical" in index
    for path in ("silence", "checkresult", "checkdefinition", "stash", "aggregatemember"):
        assert client.get(f"/admin/monitoring/{path}/").status_code == 200


def assert_deleted_with_resolves(*names: str) -> None:
    """The clients are gone and every event they had left a resolve in the audit trail."""
    assert not Client.objects.filter(name__in=names).exists()
    assert not CheckResult.objects.filter(client__name__in=names).exists()

    def sensu_events(action: str) -> set[str]:
        targets = AuditEvent.objects.filter(target_type="SensuEvent", action=action)
        return {
            t for t in targets.values_list("target_name", flat=True) if t.split("/")[0] in names
        }

    assert sensu_events("create")
    assert sensu_events("create") == sensu_events("resolve")
    destroyed = AuditEvent.objects.filter(target_type="Client", action="destroy")
    assert set(destroyed.values_list("target_name", flat=True)) == set(names)


@pytest.mark.django_db
def test_admin_delete_view_resolves_the_clients_events_through_the_engine(client, superuser):
    make_events()
    client.force_login(superuser)
    db = Client.objects.get(name="db-1")
    url = f"/admin/monitoring/client/{db.pk}/delete/"
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert b"disk" in confirm.content  # The confirmation lists the event among what goes.
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert_deleted_with_resolves("db-1")
    assert AuditEvent.objects.filter(
        target_type="SensuEvent", action="resolve", target_name="db-1/disk"
    ).exists()
    assert Event.objects.filter(client__name="web-1").exists()  # Another client's: untouched.


@pytest.mark.django_db
def test_admin_bulk_delete_action_resolves_every_clients_events(client, superuser):
    make_events()
    client.force_login(superuser)
    ids = list(Client.objects.values_list("pk", flat=True))
    confirm = client.post(
        "/admin/monitoring/client/", {"action": "delete_selected", "_selected_action": ids}
    )
    assert confirm.status_code == 200  # Django's "Are you sure?" page.
    response = client.post(
        "/admin/monitoring/client/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert response.status_code == 302
    assert_deleted_with_resolves("web-1", "db-1")


@pytest.mark.django_db
def test_admin_client_delete_needs_the_resolve_permission_when_events_are_open(
    client, django_user_model
):
    from django.contrib.auth.models import Permission

    make_events()
    staff = django_user_model.objects.create_user(username="ops", password="x", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="monitoring", codename__in=["view_client", "delete_client"]
        )
    )
    client.force_login(staff)
    db = Client.objects.get(name="db-1")
    response = client.post(f"/admin/monitoring/client/{db.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Event.objects.filter(client=db).exists()


@pytest.mark.browser
def test_browser_resolves_and_silences_events_from_the_admin(admin_page, live_server):
    make_events()
    page = admin_page
    page.goto(f"{live_server.url}/admin/monitoring/event/")
    assert page.locator("span.severity-critical").count() >= 1
    # Resolve the warning on web-1.
    web = Event.objects.get(check_name="http")
    page.check(f"input[name=_selected_action][value='{web.pk}']")
    page.select_option("select[name=action]", "resolve_events")
    page.click("button[name=index]")
    page.wait_for_selector("text=Resolved 1 event(s).")
    assert not Event.objects.filter(pk=web.pk).exists()
    # Silence the critical on db-1 through the intermediate form.
    db = Event.objects.get(check_name="disk")
    page.check(f"input[name=_selected_action][value='{db.pk}']")
    page.select_option("select[name=action]", "silence_events")
    page.click("button[name=index]")
    page.wait_for_selector("#silence-form")
    page.select_option("select[name=duration]", "3600")
    page.fill("textarea[name=reason]", "replacing the disk")
    page.click("input[name=apply]")
    page.wait_for_selector("text=Silenced 1 event(s).")
    silence = Silence.objects.get(silence_id="client:db-1:disk")
    assert silence.reason == "replacing the disk"
    page.goto(f"{live_server.url}/admin/monitoring/event/?silenced=yes")
    assert page.locator("text=full").count() >= 1
