"""The monitoring overview (Uchiwa's views in the admin) and the client's page."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext

from audits.models import AuditEvent
from monitoring.engine import result_process
from monitoring.models import Client, Event, Silence, epoch_now
from monitoring.overview import EVENTS_SHOWN, age_display
from monitoring.services import client_register, silence_create

pytestmark = pytest.mark.django_db

OVERVIEW = "/admin/monitoring/event/overview/"
REFRESH = "/admin/monitoring/event/overview/refresh/"
ACT = "/admin/monitoring/event/overview/act/"
CLEAR = "/admin/monitoring/event/overview/silences/clear/"
JSON = {"HTTP_ACCEPT": "application/json"}


def register(name: str, *subscriptions: str) -> None:
    client_register(
        data={"name": name, "address": "10.0.0.1", "subscriptions": list(subscriptions)}
    )


def result(client: str, check: str, status: int, output: str = "", executed: int | None = None):
    result_process(
        client_name=client,
        check={"name": check, "status": status, "output": output or f"{check} {status}"},
        now=executed,
    )


@pytest.fixture
def fleet():
    """Clients of each worst status and events of each severity, with a known age order."""
    register("web-1", "webserver")
    register("web-2", "webserver")
    register("db-1", "database")
    register("calm-1", "webserver")
    now = epoch_now()
    result("web-1", "http", 1, "HTTP slow", now - 600)
    result("web-2", "http", 1, "HTTP slower", now - 1200)  # the older warning
    result("db-1", "disk", 2, "DISK full", now - 60)
    result("db-1", "backup", 3, "BACKUP unknown", now - 3000)
    result("web-1", "ntp", 2, "NTP drift", now - 7200)  # the older critical
    result("calm-1", "http", 0, "HTTP OK", now)


def row_order(html: str) -> list[str]:
    return re.findall(r'data-client="([^"]+)" data-check="([^"]+)"', html)


def tiles(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-client="([^"]+)" data-severity="([^"]+)"', html))


def user_with(django_user_model, *codenames: str):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_events_are_sorted_critical_warning_unknown_then_longest_standing(client, superuser, fleet):
    client.force_login(superuser)
    html = client.get(OVERVIEW).content.decode()
    assert row_order(html) == [
        ("web-1", "ntp"),
        ("db-1", "disk"),
        ("web-2", "http"),
        ("web-1", "http"),
        ("db-1", "backup"),
    ]
    assert 'class="ov-badge ov-critical">CRITICAL' in html


def test_client_tiles_are_coloured_by_their_worst_status_and_link_to_the_client(
    client, superuser, fleet
):
    client.force_login(superuser)
    html = client.get(OVERVIEW).content.decode()
    assert tiles(html) == {
        "web-1": "critical",
        "db-1": "critical",
        "web-2": "warning",
        "calm-1": "ok",
    }
    # Worst first, then by name.
    assert list(tiles(html)) == ["db-1", "web-1", "web-2", "calm-1"]
    calm = Client.objects.get(name="calm-1")
    assert f'href="/admin/monitoring/client/{calm.pk}/change/"' in html
    assert "4 of 4 clients shown" in html


def test_a_silenced_client_tile_is_drawn_distinctly(client, superuser, fleet):
    silence_create(subscription="client:web-2", check=None, reason="maintenance")
    client.force_login(superuser)
    html = client.get(OVERVIEW).content.decode()
    [web2] = re.findall(r'<li class="([^"]+)" data-client="web-2"[^>]*>', html)
    assert "ov-silenced" in web2 and "ov-warning" in web2
    [web1] = re.findall(r'<li class="([^"]+)" data-client="web-1"[^>]*>', html)
    assert "ov-silenced" not in web1
    assert "WARNING · silenced" in html
    # A check-level silence silences its event row, not the whole client.
    silence_create(subscription="client:db-1", check="disk", reason="swap")
    html = client.get(OVERVIEW).content.decode()
    [db1] = re.findall(r'<li class="([^"]+)" data-client="db-1"[^>]*>', html)
    assert "ov-silenced" not in db1
    disk_row = html.split('data-client="db-1" data-check="disk"')[1].split("</tr>")[0]
    assert 'title="client:db-1:disk">Silenced' in disk_row


def test_active_silences_are_listed_with_their_expiry(client, superuser, fleet):
    silence_create(subscription="client:web-2", check="http", reason="load test", expire=3600)
    silence_create(subscription="database", check=None, reason="migration")
    client.force_login(superuser)
    html = client.get(OVERVIEW).content.decode()
    silences = re.findall(r'<tr data-silence="([^"]+)">', html)
    # Soonest to expire first; "until removed" last.
    assert silences == ["client:web-2:http", "database:*"]
    assert "(in 59\xa0minutes)" in html or "(in 1\xa0hour)" in html
    assert "When removed" in html
    assert "2 of 2 silences shown" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "web-2"}, [("web-2", "http")]),
        ({"q": "NTP"}, [("web-1", "ntp")]),
        ({"q": "datab"}, [("db-1", "disk"), ("db-1", "backup")]),  # a subscription
        ({"status": "warning"}, [("web-2", "http"), ("web-1", "http")]),
        ({"status": "unknown"}, [("db-1", "backup")]),
        ({"q": "web", "status": "critical"}, [("web-1", "ntp")]),
        ({"q": "nothing-like-it"}, []),
        ({"status": "bogus"}, None),  # an unknown status filters nothing
    ],
)
def test_the_filter_matches_client_check_or_subscription_and_status(
    client, superuser, fleet, query, expected
):
    client.force_login(superuser)
    everything = row_order(client.get(OVERVIEW).content.decode())
    data = client.get(REFRESH, query).json()
    rows = row_order(data["html"]["events"])
    assert rows == (everything if expected is None else expected)
    assert data["events"]["total"] == len(rows)
    # The page itself takes the same filter (a bookmarked or reloaded URL).
    assert row_order(client.get(OVERVIEW, query).content.decode()) == rows


def test_the_filter_narrows_the_client_tiles_too(client, superuser, fleet):
    client.force_login(superuser)
    data = client.get(REFRESH, {"q": "datab"}).json()
    assert tiles(data["html"]["clients"]) == {"db-1": "critical"}
    assert data["clients"]["total"] == 1


def test_refresh_endpoint_shape(client, superuser, fleet):
    silence_create(subscription="client:web-2", check="http", reason="x")
    client.force_login(superuser)
    data = client.get(REFRESH).json()
    assert set(data) == {"refreshed_at", "events", "clients", "silences", "html"}
    assert data["events"] == {
        "shown": 5,
        "total": 5,
        "critical": 2,
        "warning": 2,
        "unknown": 1,
        "ok": 0,
    }
    assert data["clients"] == {
        "shown": 4,
        "total": 4,
        "critical": 2,
        "warning": 1,
        "unknown": 0,
        "ok": 1,
    }
    assert data["silences"] == {"shown": 1, "total": 1}
    assert set(data["html"]) == {"counts", "clients", "events", "silences"}
    # The regions are the page's own markup: the full page embeds the same fragments.
    page = client.get(OVERVIEW).content.decode()
    for name in ("clients", "events", "silences"):
        assert data["html"][name].strip()[:200] in page
    assert "<script" not in "".join(data["html"].values())


def test_resolve_one_and_many_go_through_the_engine_and_are_audited(client, superuser, fleet):
    client.force_login(superuser)
    ntp = Event.objects.get(check_name="ntp")
    response = client.post(ACT, {"action": "resolve", "event": [ntp.pk]}, **JSON)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "message": "Resolved 1 event(s)."}
    assert not Event.objects.filter(pk=ntp.pk).exists()
    https = list(Event.objects.filter(check_name="http").values_list("pk", flat=True))
    response = client.post(ACT, {"action": "resolve", "event": https}, **JSON)
    assert response.json()["message"] == "Resolved 2 event(s)."
    assert not Event.objects.filter(check_name="http").exists()
    resolved = AuditEvent.objects.filter(target_type="SensuEvent", action="resolve")
    assert set(resolved.values_list("target_name", flat=True)) == {
        "web-1/ntp",
        "web-1/http",
        "web-2/http",
    }
    assert Event.objects.count() == 2  # db-1's, untouched


def test_bulk_silence_creates_one_entry_per_event_with_expiry_and_reason(client, superuser, fleet):
    client.force_login(superuser)
    ids = list(Event.objects.filter(client__name="db-1").values_list("pk", flat=True))
    response = client.post(
        ACT,
        {
            "action": "silence",
            "event": ids,
            "duration": "900",
            "expire_on_resolve": "on",
            "reason": "disk swap",
        },
        **JSON,
    )
    assert response.json() == {"ok": True, "message": "Silenced 2 event(s)."}
    silences = Silence.objects.order_by("silence_id")
    assert list(silences.values_list("silence_id", flat=True)) == [
        "client:db-1:backup",
        "client:db-1:disk",
    ]
    for silence in silences:
        assert (silence.expire, silence.expire_on_resolve) == (900, True)
        assert (silence.reason, silence.creator) == ("disk swap", superuser.username)
    assert AuditEvent.objects.filter(target_type="Silence", action="create").count() == 2
    # The rows now say so.
    html = client.get(REFRESH).json()["html"]["events"]
    assert html.count(">Silenced</span>") == 2


def test_silence_without_a_reason_is_refused_and_creates_nothing(client, superuser, fleet):
    client.force_login(superuser)
    ids = list(Event.objects.values_list("pk", flat=True))
    response = client.post(
        ACT, {"action": "silence", "event": ids, "duration": "900", "reason": ""}, **JSON
    )
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert "reason" in response.json()["errors"]
    assert not Silence.objects.exists()
    bad = client.post(ACT, {"action": "explode", "event": ids}, **JSON)
    assert bad.status_code == 400
    assert Event.objects.count() == 5


def test_event_ids_that_are_not_plain_numbers_name_no_event(client, superuser, fleet):
    client.force_login(superuser)
    ntp = Event.objects.get(check_name="ntp")
    junk = ["²", "١٢", "9" * 19, "9" * 5000, "-1", " 1", ""]
    response = client.post(ACT, {"action": "resolve", "event": [*junk, ntp.pk]}, **JSON)
    assert response.status_code == 200
    assert response.json()["message"] == "Resolved 1 event(s)."
    assert not Event.objects.filter(pk=ntp.pk).exists()
    assert Event.objects.count() == 4
    only_junk = client.post(ACT, {"action": "resolve", "event": junk}, **JSON)
    assert only_junk.status_code == 200
    assert Event.objects.count() == 4


def test_clearing_a_silence_named_badly_answers_400_and_clears_nothing(client, superuser, fleet):
    client.force_login(superuser)
    silences = Silence.objects.count()
    for bad in ("a\x00b", "", "x" * 513):
        response = client.post(CLEAR, {"silence": bad}, **JSON)
        assert response.status_code == 400, bad
        assert response.json()["errors"]["silence"]
    assert Silence.objects.count() == silences


def test_a_plain_form_post_redirects_back_with_a_message(client, superuser, fleet):
    client.force_login(superuser)
    ntp = Event.objects.get(check_name="ntp")
    response = client.post(ACT, {"action": "resolve", "event": [ntp.pk]}, follow=True)
    assert response.redirect_chain == [("/admin/monitoring/event/overview/", 302)]
    assert "Resolved 1 event(s)." in response.content.decode()


def test_actions_need_a_csrf_token(superuser, fleet):
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(superuser)
    ids = list(Event.objects.values_list("pk", flat=True))
    assert browser.post(ACT, {"action": "resolve", "event": ids}).status_code == 403
    assert browser.get(ACT).status_code == 405
    assert Event.objects.count() == 5


def test_clearing_a_silence_removes_it_audited(client, superuser, fleet):
    silence_create(subscription="client:web-2", check="http", reason="x")
    silence_create(subscription="database", check=None, reason="y")
    client.force_login(superuser)
    response = client.post(CLEAR, {"silence": "database:*"}, **JSON)
    assert response.json() == {"ok": True, "message": "Cleared silence database:*."}
    assert list(Silence.objects.values_list("silence_id", flat=True)) == ["client:web-2:http"]
    assert AuditEvent.objects.filter(
        target_type="Silence", action="destroy", target_name="database:*"
    ).exists()
    assert client.post(CLEAR, {"silence": "database:*"}, **JSON).status_code == 400


def test_a_viewer_sees_the_overview_without_any_action(client, django_user_model, fleet):
    viewer = user_with(django_user_model, "view_event", "view_client", "view_silence")
    client.force_login(viewer)
    html = client.get(OVERVIEW).content.decode()
    assert row_order(html)  # the events are there...
    for control in ("Resolve", "Silence…", 'name="event"', "silence-dialog", ">Clear<"):
        assert control not in html  # ...but no control to act on them
    refreshed = client.get(REFRESH).json()["html"]
    assert "Resolve" not in refreshed["events"] and 'name="event"' not in refreshed["events"]
    ids = list(Event.objects.values_list("pk", flat=True))
    assert client.post(ACT, {"action": "resolve", "event": ids}).status_code == 403
    silence_create(subscription="database", check=None, reason="y")
    assert client.post(CLEAR, {"silence": "database:*"}).status_code == 403
    assert Event.objects.count() == 5 and Silence.objects.count() == 1


def test_without_view_permission_the_overview_is_refused(client, django_user_model, fleet):
    client.force_login(user_with(django_user_model, "view_client"))
    assert client.get(OVERVIEW).status_code == 403
    assert client.get(REFRESH).status_code == 403


def test_without_client_view_permission_tiles_do_not_link(client, django_user_model, fleet):
    client.force_login(user_with(django_user_model, "view_event"))
    region = client.get(OVERVIEW).content.decode().split('id="overview-clients"')[1]
    region = region.split("</section>")[0]
    assert tiles(region) and "/change/" not in region


def many_events(count: int, *, start: int = 0) -> None:
    """`count` more open events over fresh clients (bulk rows: the engine is not the subject)."""
    now = epoch_now()
    clients = Client.objects.bulk_create(
        Client(name=f"bulk-{n}", subscriptions=["bulk", f"rack-{n % 7}"])
        for n in range(start, start + count)
    )
    Event.objects.bulk_create(
        Event(
            client=c,
            check_name=f"check-{n % 5}",
            status=n % 4,
            output="x" * 50,
            timestamp=now,
            last_state_change=now - n,
        )
        for n, c in enumerate(clients)
    )
    for n in range(0, count, 10):
        silence_create(subscription=f"client:bulk-{start + n}", check=None, reason="bulk")


def queries_of(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_queries_do_not_grow_with_the_number_of_events(
    client, superuser, fleet, django_assert_max_num_queries
):
    client.force_login(superuser)
    many_events(20)
    small = {url: queries_of(client, url) for url in (OVERVIEW, REFRESH)}
    many_events(EVENTS_SHOWN * 3, start=20)
    for url in (OVERVIEW, REFRESH):
        with django_assert_max_num_queries(small[url]):
            response = client.get(url)
        assert response.status_code == 200
    data = client.get(REFRESH).json()
    assert data["events"]["shown"] == EVENTS_SHOWN
    assert data["events"]["total"] == 5 + 20 + EVENTS_SHOWN * 3
    assert f"{EVENTS_SHOWN} of {data['events']['total']} events shown" in (data["html"]["events"])


def test_the_client_page_shows_each_checks_last_result_history_and_keepalive_age(client, superuser):
    client_register(data={"name": "web-1", "address": "10.0.0.1", "keepalives": True})
    Client.objects.filter(name="web-1").update(timestamp=epoch_now() - 42)
    now = epoch_now()
    for n, status in enumerate([0, 1, 2, 0, 2]):
        result("web-1", "http", status, f"HTTP run {n}", now - 300 + n * 60)
    result("web-1", "disk", 0, "DISK OK 40%", now)
    client.force_login(superuser)
    web1 = Client.objects.get(name="web-1")
    html = client.get(f"/admin/monitoring/client/{web1.pk}/change/").content.decode()
    assert re.search(r"4[2-4] s", html)  # keepalive age
    http = html.split('<tr data-check="http">')[1].split("</tr>")[0]
    assert "HTTP run 4" in http and "ov-badge ov-critical" in http
    dots = re.findall(r'<li class="history-dot ov-(\w+)"', http)
    assert dots == ["ok", "warning", "critical", "ok", "critical"]
    # Each dot says what it is in words, for screen readers and a hover.
    assert http.count('<span class="visually-hidden">critical (status 2) at ') == 2
    assert 'aria-label="Last 5 results of http, oldest first"' in http
    assert "DISK OK 40%" in html
    assert "monitoring/overview.css" in html
    # The add form has no such read-only parts.
    add = client.get("/admin/monitoring/client/add/").content.decode()
    assert "history-dots" not in add and "Keepalive age" not in add


def test_the_client_page_history_keeps_sensus_21(client, superuser):
    register("web-1")
    for n in range(30):
        result("web-1", "flappy", n % 2)
    client.force_login(superuser)
    web1 = Client.objects.get(name="web-1")
    html = client.get(f"/admin/monitoring/client/{web1.pk}/change/").content.decode()
    assert len(re.findall(r'<li class="history-dot', html)) == 21


def test_the_events_list_links_to_the_overview(client, superuser):
    client.force_login(superuser)
    html = client.get("/admin/monitoring/event/").content.decode()
    assert f'href="{OVERVIEW}">Overview</a>' in html


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (-5, "0 s"),
        (59, "59 s"),
        (60, "1 min"),
        (3599, "59 min"),
        (7200, "2 h"),
        (86400 * 3, "3 d"),
    ],
)
def test_ages_read_at_a_glance(seconds, text):
    assert age_display(seconds) == text
