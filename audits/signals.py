"""
Admin sign-in auditing, and auditing of the models the trail does not own: Django's User and
Group, and the platform's API tokens.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audits.auditing import audit_register
from audits.context import AuditActor, AuditTarget, actor_for_user
from audits.models import ActorType, AuditSource, Crud
from audits.services import audit_event_record
from integration_site.models import ApiToken

User = get_user_model()
audit_register(User, type_name="User", name_of=lambda user: user.get_username())
audit_register(Group, type_name="Usergroup")
# Only the digest is stored, and it is redacted in the trail like any secret.
audit_register(ApiToken, type_name="ApiToken", name_of=lambda token: token.name)


def _user_target(user) -> AuditTarget:
    return AuditTarget(type="User", id=str(user.pk), name=user.get_username())


@receiver(user_logged_in, dispatch_uid="audit_login")
def audit_login(sender, request, user, **kwargs):
    audit_event_record(
        action="login",
        crud=Crud.READ,
        source=AuditSource.SITE,
        actor=actor_for_user(user),
        target=_user_target(user),
        description=f"{user.get_username()} signed in",
    )


@receiver(user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender, request, user, **kwargs):
    if user is None:
        return
    audit_event_record(
        action="logout",
        crud=Crud.READ,
        source=AuditSource.SITE,
        actor=actor_for_user(user),
        target=_user_target(user),
        description=f"{user.get_username()} signed out",
    )


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    # Django already masks the password in `credentials`; only the username is kept anyway.
    username = str(credentials.get("username", ""))[:255]
    audit_event_record(
        action="login.failure",
        crud=Crud.READ,
        source=AuditSource.SITE,
        actor=AuditActor(type=ActorType.ANONYMOUS, name=username),
        target=AuditTarget(type="User", name=username),
        description=f"failed sign-in for {username!r}",
        is_failure=True,
    )
