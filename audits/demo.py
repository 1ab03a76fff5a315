from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from audits.context import AuditActor, AuditTarget
from audits.models import ActorType, AuditSource, Crud
from audits.services import audit_event_record


def load_audit_demo(say) -> None:
    """A staff operator and a morning of application events, as a vendor app would post them."""
    User = get_user_model()
    if not User.objects.filter(username="operator").exists():
        User.objects.create_user(
            username="operator", email="operator@example.com", password=None, is_staff=True
        )
    now = timezone.now()
    samples = [
        (
            "user.login.success",
            "User Login Success",
            "john@example.com logged in successfully",
            "192.30.252.12",
            "john@example.com",
            False,
        ),
        (
            "user.login.failure",
            "User Login Failure",
            "mallory@example.com: wrong password",
            "203.0.113.9",
            "mallory@example.com",
            True,
        ),
        (
            "document.share",
            "Document Shared",
            "john@example.com shared Q3 plan with finance",
            "192.30.252.12",
            "john@example.com",
            False,
        ),
        (
            "settings.update",
            "Settings Updated",
            "ana@example.com enabled SSO",
            "198.51.100.23",
            "ana@example.com",
            False,
        ),
        (
            "user.logout",
            "User Logout",
            "john@example.com logged out",
            "192.30.252.12",
            "john@example.com",
            False,
        ),
    ]
    for minutes, (action, title, description, ip, who, failed) in enumerate(samples):
        audit_event_record(
            action=action,
            name=action.rsplit(".", 1)[0],
            title=title,
            description=description,
            source=AuditSource.INTEGRATION,
            crud=Crud.UPDATE if "update" in action else Crud.READ,
            actor=AuditActor(type=ActorType.INTEGRATION, id=who, name=who),
            target=AuditTarget(type="Document", id="q3-plan", name="Q3 plan")
            if "document" in action
            else None,
            remote_address=ip,
            is_failure=failed,
            created_at=now - timedelta(minutes=60 - 10 * minutes),
        )
    # Two of the vendor's customers (Retraced groups), so the audit admin's Groups page and "View as
    # customer" show a log on a fresh install.
    customers = [
        ("acme", "Acme Corp", "alice@acme.example", "Alice"),
        ("globex", "Globex", "hank@globex.example", "Hank"),
    ]
    changes = [
        ("document.create", Crud.CREATE, "Created the Q4 budget"),
        ("document.update", Crud.UPDATE, "Renamed the Q4 budget"),
        ("member.invite", Crud.CREATE, "Invited a new team member"),
        ("document.delete", Crud.DELETE, "Deleted an old draft"),
    ]
    for group_id, group_name, actor_id, actor_name in customers:
        for minutes, (action, crud, description) in enumerate(changes):
            audit_event_record(
                action=action,
                description=description,
                source=AuditSource.INTEGRATION,
                crud=crud,
                actor=AuditActor(type=ActorType.INTEGRATION, id=actor_id, name=actor_name),
                target=AuditTarget(type="document", id=f"{group_id}-budget", name="Q4 budget"),
                group_id=group_id,
                group_name=group_name,
                created_at=now - timedelta(minutes=45 - 10 * minutes),
            )
    say(
        f"  {len(samples) + len(customers) * len(changes)} application audit events "
        f"({len(customers)} customer groups) and a staff user 'operator'"
    )
