import re
import subprocess
import sys
from datetime import timedelta

import pytest
import yaml
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone

from integration_site.models import ApiToken, ScheduledJob, WorkerHeartbeat
from integration_site.registry import registry
from integration_site.schedule import PeriodicTask, enqueue_due_periodic_tasks

pytestmark = pytest.mark.django_db


def test_root_redirects_to_admin(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_admin_login_page_has_site_header(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert "Integration Site" in response.content.decode()


def test_health_is_412_without_a_worker_then_204(admin_client_api):
    response = admin_client_api.get("/health")
    assert response.status_code == 412
    assert any("worker" in problem for problem in response.json()["problems"])
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="w1", hostname="h", pid=1, started_at=now, last_seen_at=now
    )
    assert admin_client_api.get("/health").status_code == 204


def test_health_reports_stale_worker(admin_client_api):
    stale = timezone.now() - timedelta(minutes=10)
    WorkerHeartbeat.objects.create(
        worker_id="w1", hostname="h", pid=1, started_at=stale, last_seen_at=stale
    )
    assert admin_client_api.get("/health").status_code == 412


def test_health_requires_authentication(api_client):
    assert api_client.get("/health").status_code == 401


def test_openapi_schema_is_valid(admin_client_api):
    from drf_spectacular.validation import validate_schema

    response = admin_client_api.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    validate_schema(schema)
    assert "/health" in schema["paths"]


def test_api_docs_page_renders(client, superuser):
    client.force_login(superuser)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert "swagger" in response.content.decode().lower()


def test_create_api_token_command_prints_secret_once(capsys, api_client):
    call_command("create_api_token", "ci", "--scope", "audit:write,audit:read")
    secret = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(name="ci")
    assert token.scopes == ["audit:read", "audit:write"]
    assert secret not in token.digest
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api_client.get("/api/schema/").status_code == 403  # staff-only, not a token scope


def test_create_api_token_rejects_unknown_scope():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("create_api_token", "bad", "--scope", "audit:everything")


def test_bootstrap_generates_a_password_when_none_is_given(django_user_model, capsys, monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    call_command("bootstrap", "--no-demo")
    out = capsys.readouterr().out
    password = out.split("password: ")[1].split()[0]
    assert django_user_model.objects.get(username="admin").check_password(password)


def test_settings_refuse_to_start_without_secret_key_when_not_debug(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "integration_site.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "INTEGRATION_SITE_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_periodic_task_is_claimed_once_per_due_time():
    enqueued = []

    class FakeTask:
        module_path = "tests.fake_periodic"

        def enqueue(self):
            enqueued.append(1)

    registry["periodic_jobs"]["tests.fake_periodic"] = PeriodicTask(
        name="tests.fake_periodic", task=FakeTask(), every=timedelta(seconds=30)
    )
    try:
        now = timezone.now()
        assert "tests.fake_periodic" in enqueue_due_periodic_tasks(now=now)
        # A second worker ticking at the same moment finds nothing due.
        assert "tests.fake_periodic" not in enqueue_due_periodic_tasks(now=now)
        assert len(enqueued) == 1
        job = ScheduledJob.objects.get(name="tests.fake_periodic")
        assert job.next_run_at == now + timedelta(seconds=30)
        enqueue_due_periodic_tasks(now=now + timedelta(seconds=31))
        assert len(enqueued) == 2
    finally:
        del registry["periodic_jobs"]["tests.fake_periodic"]


@pytest.mark.django_db(transaction=True)
def test_worker_once_checks_in_and_leaves():
    # transaction=True: the worker closes stale connections between polls, as in production.
    call_command("worker", "--once")
    # A clean stop removes the heartbeat, so /health notices a stopped worker at once.
    assert not WorkerHeartbeat.objects.exists()


def test_health_names_a_database_outage_without_the_drivers_message(
    admin_client_api, monkeypatch, caplog
):
    from django.db import connections

    from integration_site import views

    # A real connection to a database that cannot be reached: a directory that does not exist
    # (SQLite) or a closed port (PostgreSQL), with a secret-looking name in its settings.
    broken_settings = dict(connections["default"].settings_dict)
    if broken_settings["ENGINE"].endswith("sqlite3"):
        broken_settings["NAME"] = "/nonexistent-secret-dir/hunter2.sqlite3"
    else:
        broken_settings.update(HOST="127.0.0.1", PORT="1", PASSWORD="hunter2")
        broken_settings["OPTIONS"] = {
            key: value for key, value in broken_settings["OPTIONS"].items() if key != "pool"
        }
        broken_settings["OPTIONS"]["connect_timeout"] = 2
    broken = connections.create_connection("default")
    broken.settings_dict = broken_settings
    monkeypatch.setattr(views, "connection", broken)

    response = admin_client_api.get("/health")

    assert response.status_code == 412
    body = response.json()
    assert body["problems"] == ["database: not answering (the site's log has the error)"]
    assert "hunter2" not in response.content.decode()
    assert "nonexistent" not in response.content.decode()
    assert "health check: the database did not answer" in caplog.text


# --- Creating tokens grants no more than the creator holds -------------------------------------


def _token_creator(django_user_model, *scopes: str):
    from django.contrib.auth.models import Permission

    from integration_site.scopes import permission_codename

    user = django_user_model.objects.create_user("minter", password="x", is_staff=True)
    codenames = ["add_apitoken", "view_apitoken", *(permission_codename(s) for s in scopes)]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def _add_token(client, *scopes: str):
    return client.post(
        "/admin/integration_site/apitoken/add/", {"name": "minted", "scopes": list(scopes)}
    )


def test_admin_refuses_a_token_with_scopes_its_creator_lacks(client, django_user_model):
    client.force_login(_token_creator(django_user_model, "audit:read"))
    response = _add_token(client, "audit:read", "version:apply", "audit:verify")
    assert response.status_code == 200  # the form again, with the error
    assert "do not hold yourself: audit:verify, version:apply" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_admin_mints_a_token_within_its_creators_scopes(client, django_user_model):
    client.force_login(_token_creator(django_user_model, "audit:read", "audit:write"))
    assert _add_token(client, "audit:read").status_code == 302
    assert ApiToken.objects.get().scopes == ["audit:read"]


def test_superuser_may_mint_any_scope(client, superuser):
    client.force_login(superuser)
    assert _add_token(client, "version:apply", "audit:verify").status_code == 302
    assert ApiToken.objects.get().scopes == ["audit:verify", "version:apply"]


def test_token_service_refuses_scopes_the_creator_lacks(django_user_model):
    from integration_site.services import ScopeNotHeld, api_token_create

    creator = _token_creator(django_user_model, "audit:read")
    with pytest.raises(ScopeNotHeld, match="audit:write"):
        api_token_create(name="t", scopes=["audit:read", "audit:write"], created_by=creator)
    assert not ApiToken.objects.exists()


def _page_rows(html: str) -> dict[str, str]:
    """id of each app-list row -> its link, in the page (app list and navigation sidebar)."""
    return dict(re.findall(r'<th scope="row" id="([\w-]+)">\s*<a href="([^"]+)"', html))


@pytest.mark.django_db
def test_admin_pages_are_listed_in_their_app_to_holders_of_their_permission(
    client, django_user_model
):
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="monitoring", codename="view_event")
    )
    client.force_login(user)
    index = _page_rows(client.get("/admin/").content.decode())
    # The overview sits with the event list it belongs to; Updates needs view_release.
    assert index["monitoring-overviewpage"] == "/admin/monitoring/event/overview/"
    assert index["monitoring-event"] == "/admin/monitoring/event/"
    assert "licensing-updatespage" not in index
    app_index = client.get("/admin/monitoring/").content.decode()
    assert _page_rows(app_index)["monitoring-overviewpage"] == "/admin/monitoring/event/overview/"
    # The sidebar of another page lists it too.
    events = client.get("/admin/monitoring/event/").content.decode()
    assert _page_rows(events)["monitoring-overviewpage"] == "/admin/monitoring/event/overview/"

    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="licensing", codename="view_release")
    )
    client.force_login(django_user_model.objects.get(pk=user.pk))
    index = _page_rows(client.get("/admin/").content.decode())
    assert index["licensing-updatespage"] == "/admin/licensing/release/updates/"
