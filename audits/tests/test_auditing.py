"""Automatic auditing with the audited gem's semantics, sign-in auditing, one request UUID."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from audits.auditing import audit_register
from audits.context import AuditActor, audit_context
from audits.models import ActorType, AuditEvent, AuditSource, Crud
from audits.services import REDACTED

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
