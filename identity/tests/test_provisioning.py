"""Provisioning against a real HTTP provisioner on loopback, run by the tests."""

import pytest
from django.core.management import call_command

from audits.models import AuditEvent
from identity.directories import SiteDirectory
from identity.models import (
    PasswordFormat,
    ProvisionerSettings,
    ProvisioningOutboxEntry,
    SyncState,
)
from identity.provisioning import provisioning_sync_run
from identity.selectors import provisioner_settings, provisioning_outbox_pending
from identity.services import provisioning_resync_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(provisioner):
    config = provisioner_settings()
    config.url = provisioner.url
    config.save()
    return config


@pytest.fixture
def people(django_user_model):
    return [
        django_user_model.objects.create_user(
            username=name,
            password=f"{name} password 123",
            email=f"{name}@example.com",
            first_name=name.title(),
            last_name="Example",
        )
        for name in ("ann", "ben")
    ]


def _uuid(user) -> str:
    return SiteDirectory().user_uuid(user)


def test_nothing_happens_without_a_provisioner_url(provisioner, people):
    assert provisioning_sync_run() == "provisioning is not configured"
    assert provisioner.requests == []
    assert provisioner_settings().state == SyncState.DISABLED


def test_full_sync_pings_resets_then_creates_everyone(configured, provisioner, people):
    provisioning_sync_run()
    assert provisioner.calls(include_ping=True) == [
        ("GET", "/v1/ping"),
        ("POST", "/v1/reset"),
        ("POST", "/v1/user/create"),
        ("POST", "/v1/user/create"),
    ]
    ann = provisioner.bodies("/v1/user/create")[0]
    assert ann == {
        "uuid": _uuid(people[0]),
        "user_id": "uid=ann,ou=users,dc=integration-site,dc=local",
        "username": "ann",
        "first_name": "Ann",
        "last_name": "Example",
        "full_name": "Ann Example",
        "email": "ann@example.com",
    }
    config = provisioner_settings()
    assert config.state == SyncState.IDLE
    assert config.last_sync_at and config.last_full_sync_at
    assert not provisioning_outbox_pending().exists()


def test_changes_after_the_full_sync_are_pushed_one_by_one(configured, provisioner, people):
    provisioning_sync_run()
    provisioner.clear()
    ann, ben = people
    ann.email = "ann@new.example.com"
    ann.save()
    ben_uuid = _uuid(ben)
    ben.delete()
    provisioning_sync_run()
    assert provisioner.calls() == [("POST", "/v1/user/modify"), ("DELETE", f"/v1/user/{ben_uuid}")]
    assert provisioner.bodies("/v1/user/modify")[0]["email"] == "ann@new.example.com"
    provisioner.clear()
    provisioning_sync_run()  # Nothing changed: nothing sent but the ping.
    assert provisioner.calls() == []


def test_failure_pauses_and_the_same_request_is_retried_in_order(
    configured, provisioner, people, django_user_model
):
    provisioning_sync_run()
    provisioner.clear()
    django_user_model.objects.create_user(username="cy", password="cy password 123")
    people[0].last_name = "Changed"
    people[0].save()
    # Queued in directory order: ann's modify, then cy's create. The modify fails.
    provisioner.failures["/v1/user/modify"] = 500
    provisioning_sync_run()
    config = provisioner_settings()
    assert config.state == SyncState.PAUSED
    assert "500" in config.last_error
    # Stopped at the failing modify; the create queued after it was not sent.
    assert provisioner.calls() == [("POST", "/v1/user/modify")]
    assert AuditEvent.objects.filter(action="provisioning.paused").count() == 1

    provisioning_sync_run()  # Still failing: the same request again, still nothing after it.
    assert provisioner.calls() == [("POST", "/v1/user/modify")] * 2
    assert AuditEvent.objects.filter(action="provisioning.paused").count() == 1
    first = provisioning_outbox_pending().first()
    assert first.attempts == 2 and first.last_status == 500

    provisioner.failures.clear()
    provisioning_sync_run()
    assert provisioner.calls() == [("POST", "/v1/user/modify")] * 3 + [("POST", "/v1/user/create")]
    bodies = provisioner.bodies("/v1/user/modify")
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["last_name"] == "Changed"
    assert provisioner.bodies("/v1/user/create")[0]["username"] == "cy"
    assert provisioner_settings().state == SyncState.IDLE
    assert AuditEvent.objects.filter(action="provisioning.resumed").count() == 1


def test_ping_must_answer_204_before_anything_is_sent(configured, provisioner, people):
    provisioner.ping_status = 200
    provisioning_sync_run()
    assert provisioner.calls() == []
    config = provisioner_settings()
    assert config.state == SyncState.PAUSED
    assert "204 expected" in config.last_error
    provisioner.ping_status = 204
    provisioning_sync_run()
    assert provisioner.calls()[0] == ("POST", "/v1/reset")


def test_unreachable_provisioner_pauses(configured, people):
    from identity.tests.ldap_server import free_port

    ProvisionerSettings.objects.filter(pk=1).update(url=f"http://127.0.0.1:{free_port()}")
    provisioning_sync_run()
    config = provisioner_settings()
    assert config.state == SyncState.PAUSED
    assert "ping" in config.last_error


def test_no_passwords_are_sent_by_default(configured, provisioner, people):
    provisioning_sync_run()
    for body in provisioner.bodies("/v1/user/create"):
        assert "password" not in body and "password_format" not in body


def test_hashed_format_sends_hashes_never_cleartext(configured, provisioner, people):
    configured.password_format = PasswordFormat.HASHED
    configured.save()
    provisioning_sync_run()
    body = provisioner.bodies("/v1/user/create")[0]
    assert body["password_format"] == "django"
    assert body["password"].startswith("md5$")  # the stored hash, as Django encodes it
    assert "ann password 123" not in str(provisioner.bodies("/v1/user/create"))
    # Delivered entries do not keep the password.
    assert all("password" not in e.payload for e in ProvisioningOutboxEntry.objects.all())


def test_ldap_users_are_provisioned_with_their_entry_uuid(
    configured, provisioner, ldap_source, slapd
):
    configured.password_format = PasswordFormat.HASHED
    configured.save()
    provisioning_sync_run()
    created = {b["username"]: b for b in provisioner.bodies("/v1/user/create")}
    assert {"alice", "bob", "carol"} <= set(created)
    alice = created["alice"]
    assert alice["user_id"] == slapd.user_dn("alice")
    assert len(alice["uuid"]) == 36
    assert alice["full_name"] == "Alice Liddell"
    # The search account cannot read userPassword (slapd ACL), so nothing to send.
    assert "password" not in alice


def test_unreachable_directory_does_not_delete_its_users(configured, provisioner, ldap_source):
    provisioning_sync_run()
    provisioner.clear()
    from identity.tests.ldap_server import free_port

    ldap_source.port = free_port()
    ldap_source.timeout_seconds = 1
    ldap_source.save()
    provisioning_sync_run()
    assert provisioner.calls() == []
    assert "Cannot reach" in provisioner_settings().last_error


def test_resync_resets_and_sends_everyone_again(configured, provisioner, people, client, superuser):
    provisioning_sync_run()
    provisioner.clear()
    client.force_login(superuser)
    provisioner.clear()
    response = client.post(
        "/admin/console/provisionersettings/",
        {"action": "resync", "_selected_action": [1]},
        follow=True,
    )
    assert response.status_code == 200
    provisioning_sync_run()
    assert provisioner.calls() == [
        ("POST", "/v1/reset"),
        ("POST", "/v1/user/create"),
        ("POST", "/v1/user/create"),  # the superuser is never provisioned out
    ]
    assert AuditEvent.objects.filter(action="provisioning.resync").exists()


def test_resync_drops_a_stuck_request(configured, provisioner, people):
    provisioner.failures["/v1/reset"] = 400
    provisioning_sync_run()
    provisioner.failures.clear()
    provisioning_resync_request()
    provisioning_sync_run()
    assert provisioning_outbox_pending().count() == 0
    assert provisioner_settings().state == SyncState.IDLE


def test_admin_shows_sync_state(configured, provisioner, people, client, superuser):
    provisioner.failures["*"] = 503
    provisioning_sync_run()
    client.force_login(superuser)
    page = client.get("/admin/console/provisionersettings/").content.decode()
    assert "Paused" in page
    assert "503" in page
    detail = client.get("/admin/console/provisionersettings/1/change/").content.decode()
    assert "Pending changes" in detail
    index = client.get("/admin/").content.decode()
    assert "Provisioning" in index and "Sync paused" in index


# The worker opens its own connections, which needs real commits (no test transaction).
@pytest.mark.django_db(transaction=True)
def test_site_user_change_runs_the_task_on_the_worker(configured, provisioner, django_user_model):
    provisioning_sync_run()
    provisioner.clear()
    django_user_model.objects.create_user(username="dee", password="dee password 123")
    call_command("worker", "--once")
    assert ("POST", "/v1/user/create") in provisioner.calls()
    assert provisioner.bodies("/v1/user/create")[0]["username"] == "dee"


def test_periodic_task_is_registered():
    from integration_site.schedule import registered_periodic_tasks

    assert any("provisioning_sync" in job.name for job in registered_periodic_tasks())


# --- Site superusers never go out; the provisioner's address is a superuser's to change ---------


def test_site_superusers_are_never_provisioned(configured, provisioner, people, superuser):
    configured.password_format = PasswordFormat.HASHED
    configured.save()
    provisioning_sync_run()
    assert [b["username"] for b in provisioner.bodies("/v1/user/create")] == ["ann", "ben"]
    assert superuser.password not in str(provisioner.requests)


def test_user_who_becomes_superuser_is_deleted_and_never_sent_again(
    configured, provisioner, people
):
    configured.password_format = PasswordFormat.HASHED
    configured.save()
    provisioning_sync_run()
    provisioner.clear()
    ann = people[0]
    ann.is_superuser = True
    ann.save()
    provisioning_sync_run()
    assert provisioner.calls() == [("DELETE", f"/v1/user/{_uuid(ann)}")]
    provisioner.clear()
    ann.set_password("a new password 456")
    ann.email = "ann@elsewhere.example"
    ann.save()
    provisioning_resync_request()
    provisioning_sync_run()
    assert [b["username"] for b in provisioner.bodies("/v1/user/create")] == ["ben"]
    assert ann.password not in str(provisioner.requests)


def _settings_form(config, **changes) -> dict:
    data = {
        "url": config.url,
        "password_format": config.password_format,
        "enable_reset_request": "on" if config.enable_reset_request else "",
        "enabled": "on" if config.enabled else "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_provisioner_address_and_password_format_need_a_superuser(
    configured, client, django_user_model
):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_provisionersettings", "change_provisionersettings"]
        )
    )
    client.force_login(staff)
    response = client.post(
        "/admin/console/provisionersettings/1/change/",
        _settings_form(
            configured, url="http://attacker.example", password_format=PasswordFormat.HASHED
        ),
    )
    assert response.status_code == 302
    config = provisioner_settings()
    assert (config.url, config.password_format) == (configured.url, configured.password_format)


def test_superuser_may_change_the_provisioner_address(configured, client, superuser):
    client.force_login(superuser)
    response = client.post(
        "/admin/console/provisionersettings/1/change/",
        _settings_form(configured, url="http://other.example", password_format="hashed"),
    )
    assert response.status_code == 302
    config = provisioner_settings()
    assert (config.url, config.password_format) == ("http://other.example", "hashed")


# --- One sync at a time: the periodic job's run lease, renewed and owner-only ------------------


@pytest.mark.django_db(transaction=True)
def test_a_sync_started_while_one_runs_skips(configured, provisioner, people):
    from django.db import connection

    overlapping = []

    def second_sync(path):
        # A second worker's run, started while the first waits on the provisioner.
        if path == "/v1/ping" and not overlapping:
            try:
                overlapping.append(provisioning_sync_run())
            finally:
                connection.close()

    provisioner.on_request = second_sync
    assert provisioning_sync_run() == "queued 3, delivered=True"
    assert overlapping == ["another worker is syncing"]
    assert provisioner.calls() == [
        ("POST", "/v1/reset"),
        ("POST", "/v1/user/create"),
        ("POST", "/v1/user/create"),
    ]


def test_a_lapsed_lease_is_taken_over(configured, provisioner, people):
    from datetime import timedelta

    from django.utils import timezone

    from identity.provisioning import PROVISIONING_LEASE_SECONDS, PROVISIONING_SYNC_JOB
    from integration_site.schedule import run_lease_acquire

    # A worker killed mid-sync: its lease is never released, only lapses.
    run_lease_acquire(
        name=PROVISIONING_SYNC_JOB,
        seconds=PROVISIONING_LEASE_SECONDS,
        now=timezone.now() - timedelta(seconds=PROVISIONING_LEASE_SECONDS + 1),
    )
    assert provisioning_sync_run() == "queued 3, delivered=True"


def test_a_held_lease_makes_the_sync_skip(configured, provisioner, people):
    from identity.provisioning import PROVISIONING_LEASE_SECONDS, PROVISIONING_SYNC_JOB
    from integration_site.schedule import run_lease_acquire

    held = run_lease_acquire(name=PROVISIONING_SYNC_JOB, seconds=PROVISIONING_LEASE_SECONDS)
    assert provisioning_sync_run() == "another worker is syncing"
    assert provisioner.requests == []
    assert held.release()  # the skipping run did not release the holder's lease


@pytest.mark.django_db(transaction=True)
def test_a_sync_that_lost_its_lease_stops_and_leaves_the_new_holders_lease(
    configured, provisioner, people, monkeypatch
):
    from django.db import connection

    from identity import provisioning
    from integration_site.models import ScheduledJob
    from integration_site.schedule import run_lease_acquire

    # A lease so short that it has lapsed by the first request, and each step renews it.
    monkeypatch.setattr(provisioning, "PROVISIONING_LEASE_SECONDS", 0)
    taken_over = []

    def take_over(path):
        # While the first create is in flight, another worker's run takes the lapsed lease.
        if path == "/v1/user/create" and not taken_over:
            try:
                taken_over.append(
                    run_lease_acquire(name=provisioning.PROVISIONING_SYNC_JOB, seconds=300)
                )
            finally:
                connection.close()

    provisioner.on_request = take_over
    assert provisioning_sync_run() == "lost the lease to another run; stopped"
    assert taken_over[0] is not None
    assert provisioner.calls() == [("POST", "/v1/reset"), ("POST", "/v1/user/create")]
    row = ScheduledJob.objects.get(name=provisioning.PROVISIONING_SYNC_JOB)
    # The first run's release (owner-only) left the new holder's lease alone.
    assert (row.lease_owner, row.lease_expires_at) == (
        taken_over[0].owner,
        taken_over[0].expires_at,
    )


def test_lease_name_is_the_periodic_task_name():
    from identity.provisioning import PROVISIONING_SYNC_JOB
    from integration_site.schedule import registered_periodic_tasks

    assert PROVISIONING_SYNC_JOB in {job.name for job in registered_periodic_tasks()}
