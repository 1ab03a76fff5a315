"""Automatic auditing with the audited gem's semantics, sign-in auditing, one request UUID."""

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.test import Client

from audits.auditing import audit_register, audited_models, is_secret_name
from audits.context import AuditActor, audit_context
from audits.models import ActorType, AuditEvent, AuditSource, Crud
from audits.services import REDACTED
from integration_site.models import ApiToken
from integration_site.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db
User = get_user_model()


def events_for(instance, type_name="User"):
    return AuditEvent.objects.filter(target_type=type_name, target_id=str(instance.pk)).order_by(
        "version"
    )


def test_create_update_destroy_with_versions_and_diffs():
    user = User.objects.create_user("alice", email="a@example.com")
    user.email = "alice@example.com"
    user.save()
    pk = user.pk
    user.delete()
    create, update, destroy = AuditEvent.objects.filter(
        target_type="User", target_id=str(pk)
    ).order_by("seq")
    assert (create.action, create.crud, create.version) == ("create", Crud.CREATE, 1)
    assert create.audited_changes["username"] == "alice"
    assert (update.action, update.version) == ("update", 2)
    assert update.audited_changes == {"email": ["a@example.com", "alice@example.com"]}
    assert (destroy.action, destroy.crud, destroy.version) == ("destroy", Crud.DELETE, 3)
    assert destroy.audited_changes["email"] == "alice@example.com"
    assert create.source == AuditSource.SITE
    assert create.target_name == "alice"


def test_update_that_changes_nothing_writes_nothing():
    user = User.objects.create_user("bob")
    before = AuditEvent.objects.count()
    user.save()
    assert AuditEvent.objects.count() == before


def test_password_is_redacted_and_never_stored():
    user = User.objects.create_user("carol", password="s3cret-Passw0rd!")
    user.set_password("another-s3cret!")
    user.save()
    create, update = events_for(user)
    assert create.audited_changes["password"] == REDACTED
    assert update.audited_changes["password"] == [REDACTED, REDACTED]
    for event in (create, update):
        assert "s3cret" not in str(event.audited_changes)


def test_field_marked_sensitive_is_redacted():
    # A model we do not own, opted in with one declaration and a per-row sensitive field.
    from django.contrib.auth.models import Permission

    audit_register(Permission, sensitive={"name"})
    permission = Permission.objects.first()
    permission.name = "renamed secretly"
    permission.save()
    event = AuditEvent.objects.filter(target_type="Permission").latest("seq")
    assert event.audited_changes["name"] == [REDACTED, REDACTED]


def test_outside_a_request_the_actor_is_system_with_fresh_uuids():
    one = User.objects.create_user("dave")
    two = User.objects.create_user("erin")
    first, second = events_for(one).get(), events_for(two).get()
    assert first.actor_type == ActorType.SYSTEM
    assert first.request_uuid and second.request_uuid and first.request_uuid != second.request_uuid


def test_audit_context_groups_a_command_under_one_actor_and_uuid():
    actor = AuditActor(type=ActorType.USER, id="9", name="ops")
    with audit_context(actor=actor, request_uuid="cmd-1"):
        User.objects.create_user("frank")
        Group.objects.create(name="admins")
    events = AuditEvent.objects.filter(request_uuid="cmd-1")
    assert {"User", "Usergroup"} <= {e.target_type for e in events}
    assert {e.actor_name for e in events} == {"ops"}


def test_admin_change_is_audited_with_user_address_and_one_request_uuid(superuser):
    client = Client(REMOTE_ADDR="198.51.100.4")
    client.force_login(superuser)
    response = client.post(
        "/admin/auth/group/add/", {"name": "operators"}, HTTP_X_REQUEST_ID="req-admin-1"
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(target_type="Usergroup", action="create")
    assert event.actor_type == ActorType.USER
    assert event.actor_name == "root"
    assert event.remote_address == "198.51.100.4"
    assert event.request_uuid == "req-admin-1"
    # Every event of that request shares its UUID.
    assert set(
        AuditEvent.objects.filter(request_uuid="req-admin-1").values_list("request_uuid", flat=True)
    ) == {"req-admin-1"}


def test_management_command_changes_are_audited_as_system(capsys):
    call_command("audits_expire", "--days", "3650")
    event = AuditEvent.objects.filter(action="audit.expire").get()
    assert event.actor_type == ActorType.SYSTEM


def test_login_success_failure_and_logout_are_audited_without_password(superuser):
    client = Client()
    password = "correct horse battery staple"
    assert not client.login(username="root", password="wrong-password")
    assert client.login(username="root", password=password)
    client.logout()
    failure = AuditEvent.objects.get(action="login.failure")
    assert failure.is_failure
    assert failure.target_name == "root"
    assert AuditEvent.objects.filter(action="login", actor_name="root").exists()
    assert AuditEvent.objects.filter(action="logout", actor_name="root").exists()
    for event in AuditEvent.objects.filter(action__startswith="log"):
        text = str(event.__dict__)
        assert password not in text and "wrong-password" not in text


def test_admin_login_form_failure_is_audited(superuser):
    client = Client()
    client.post("/admin/login/", {"username": "root", "password": "nope-nope"})
    assert AuditEvent.objects.filter(action="login.failure", target_name="root").exists()


# --- A change and its audit event commit together ---------------------------------------

FAIL_PREFIX = "boom"


@contextlib.contextmanager
def audit_writes_fail_for_boom_groups() -> Iterator[None]:
    """
    A real database failure of the audit write: a trigger rejecting the INSERT of any event
    about a group named boom*. Used with transactional_db, so the code under test runs in
    autocommit as views and commands do, and "committed" means committed.
    """
    table = AuditEvent._meta.db_table
    condition = f"NEW.target_type = 'Usergroup' AND NEW.target_name LIKE '{FAIL_PREFIX}%'"
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(
                "CREATE FUNCTION h7t_fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN IF {condition} THEN RAISE EXCEPTION 'audit write failed'; END IF; "
                "RETURN NEW; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER h7t_fail_audit BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION h7t_fail_audit()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER h7t_fail_audit BEFORE INSERT ON {table} WHEN {condition} "
                "BEGIN SELECT RAISE(ABORT, 'audit write failed'); END"
            )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if postgres:
                cursor.execute(f"DROP TRIGGER h7t_fail_audit ON {table}")
                cursor.execute("DROP FUNCTION h7t_fail_audit()")
            else:
                cursor.execute("DROP TRIGGER h7t_fail_audit")


def test_a_create_whose_audit_write_fails_is_not_committed(transactional_db):
    assert connection.get_autocommit() and not connection.in_atomic_block
    with audit_writes_fail_for_boom_groups(), pytest.raises(DatabaseError, match="audit write"):
        Group.objects.create(name=f"{FAIL_PREFIX}-new")
    assert not Group.objects.filter(name=f"{FAIL_PREFIX}-new").exists()
    # The connection is usable again: the failure rolled back a whole transaction.
    ok = Group.objects.create(name="fine")
    assert events_for(ok, "Usergroup").get().action == "create"


def test_an_update_whose_audit_write_fails_is_not_committed(transactional_db):
    group = Group.objects.create(name="ops")
    group.name = f"{FAIL_PREFIX}-renamed"
    with audit_writes_fail_for_boom_groups(), pytest.raises(DatabaseError, match="audit write"):
        group.save()
    assert Group.objects.get(pk=group.pk).name == "ops"
    assert [e.action for e in events_for(group, "Usergroup")] == ["create"]


def test_a_delete_whose_audit_write_fails_is_not_committed(transactional_db):
    # Created before the trigger exists; Django's deletion collector already sends
    # post_delete inside its transaction, and this pins that the audit relies on it.
    group = Group.objects.create(name=f"{FAIL_PREFIX}-doomed")
    with audit_writes_fail_for_boom_groups(), pytest.raises(DatabaseError, match="audit write"):
        group.delete()
    assert Group.objects.filter(pk=group.pk).exists()
    assert [e.action for e in events_for(group, "Usergroup")] == ["create"]


# --- Secret field names -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "bind_password",
        "grub_pass",
        "root_pass",
        "pass",
        "pwd",
        "db_pwd",
        "passwd",
        "passphrase",
        "apikey",
        "api_key",
        "APIKey",
        "x-api-key",
        "authtoken",
        "accessToken",
        "refresh_token",
        "client_secret",
        "clientSecret",
        "private_key",
        "ssh_keys",
        "digest",
        "token_digest",
        "credentials",
    ],
)
def test_secret_names_are_recognised(name):
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        # `pass` and `key` inside a longer word are something else.
        "passive",
        "bypass",
        "compass",
        "passenger",
        "passport",
        "monkey",
        "keepalive",
        "keepalives",
        "tokenizer",
        # Names that describe a secret without holding it: auditors want to see these change.
        "signing_key_id",
        "password_format",
        "password_changed_at",
        "token_type",
        # Ordinary columns of the audited models.
        "name",
        "prefix",
        "scopes",
        "hide_from_customer",
    ],
)
def test_ordinary_names_are_not_secret(name):
    assert not is_secret_name(name)


def test_api_token_digest_and_secret_never_reach_audited_changes():
    token, secret = api_token_create(name="ci", scopes=["audit:read"])
    api_token_revoke(token=token)
    create, update = events_for(token, "ApiToken")
    assert create.audited_changes["digest"] == REDACTED
    # The prefix is meant to be shown (admins tell tokens apart by it); the rest never is.
    assert create.audited_changes["prefix"] == token.prefix
    assert set(update.audited_changes) == {"revoked_at"}
    for event in (create, update):
        text = str(event.audited_changes)
        assert secret not in text and token.digest not in text


def test_audited_models_redact_their_secret_and_key_fields():
    secrets = {
        registration.type_name: registration.secret_fields(model())
        for model, registration in audited_models().items()
        if registration.type_name in {"ApiToken", "DirectorySource", "User", "License"}
    }
    assert {"digest"} <= secrets["ApiToken"]
    assert {"bind_password"} <= secrets["DirectorySource"]
    assert {"password"} <= secrets["User"]
    # A key's id names a public key; it is not the key.
    assert "signing_key_id" not in secrets["License"]


# --- One request, one UUID --------------------------------------------------------------


def _delete_groups(client: Client, *names: str, **headers: str):
    groups = [Group.objects.create(name=name) for name in names]
    response = client.post(
        "/admin/auth/group/",
        {"action": "delete_selected", "_selected_action": [g.pk for g in groups], "post": "yes"},
        headers=headers,
    )
    assert response.status_code == 302
    events = list(
        AuditEvent.objects.filter(
            target_type="Usergroup", action="destroy", target_id__in=[str(g.pk) for g in groups]
        )
    )
    assert len(events) == len(names)
    return response, events


def test_every_event_of_one_request_shares_the_x_request_id(superuser):
    # The admin's bulk "delete selected" writes one audited event per group in one request.
    client = Client()
    client.force_login(superuser)
    _, events = _delete_groups(client, "red", "blue", "green", X_REQUEST_ID="req-bulk-1")
    assert {e.request_uuid for e in events} == {"req-bulk-1"}
    assert {e.actor_name for e in events} == {"root"}
    _, again = _delete_groups(client, "cyan", "pink", X_REQUEST_ID="req-bulk-2")
    assert {e.request_uuid for e in again} == {"req-bulk-2"}


def test_without_x_request_id_one_request_gets_one_generated_uuid(superuser):
    client = Client()
    client.force_login(superuser)
    first_response, first = _delete_groups(client, "red", "blue")
    second_response, second = _delete_groups(client, "cyan", "pink")
    (first_uuid,) = {e.request_uuid for e in first}
    (second_uuid,) = {e.request_uuid for e in second}
    assert first_uuid == first_response["X-Request-ID"]
    assert second_uuid == second_response["X-Request-ID"]
    assert first_uuid != second_uuid
    uuid.UUID(first_uuid)


# --- Management commands ----------------------------------------------------------------


def test_create_api_token_command_audits_the_token_as_system(capsys):
    call_command("create_api_token", "deploy-bot", "--scope", "audit:read")
    call_command("create_api_token", "backup-bot", "--scope", "audit:write")
    secret = capsys.readouterr().out.splitlines()[0]
    deploy, backup = (
        events_for(ApiToken.objects.get(name=name), "ApiToken").get()
        for name in ("deploy-bot", "backup-bot")
    )
    for event in (deploy, backup):
        assert (event.action, event.crud, event.version) == ("create", Crud.CREATE, 1)
        assert event.actor_type == ActorType.SYSTEM
        assert event.audited_changes["digest"] == REDACTED
    assert deploy.target_name == "deploy-bot"
    assert secret not in str(deploy.audited_changes)
    # Each command run is its own "request".
    assert (
        deploy.request_uuid and backup.request_uuid and deploy.request_uuid != backup.request_uuid
    )


def test_createsuperuser_command_audits_the_user_as_system(monkeypatch):
    password = "cmd-line-s3cret!"
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)
    earlier = User.objects.create_user("someone-else")
    call_command("createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.com")
    user = User.objects.get(username="ops")
    events = list(events_for(user))
    # Django saves the user once with the password already set.
    assert [e.action for e in events] == ["create"]
    (event,) = events
    assert event.actor_type == ActorType.SYSTEM
    assert event.audited_changes["is_superuser"] is True
    assert event.audited_changes["password"] == REDACTED
    assert password not in str(event.audited_changes)
    assert event.request_uuid and event.request_uuid != events_for(earlier).get().request_uuid
