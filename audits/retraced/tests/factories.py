"""Events for the Retraced tests, written straight to the trail (pending chain links)."""

from datetime import UTC, datetime, timedelta

from audits.models import AuditEvent

BASE_TIME = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def retraced_event(**fields) -> AuditEvent:
    values = {
        "source": "integration",
        "actor_type": "Integration",
        "action": "user.login",
        "crud": "c",
        "actor_id": "u1",
        "actor_name": "Jane Doe",
        "created_at": BASE_TIME,
    }
    values.update(fields)
    return AuditEvent.objects.create(**values)


def events_over_time(count: int, *, start=BASE_TIME, step=timedelta(minutes=1), **fields):
    return [retraced_event(created_at=start + step * index, **fields) for index in range(count)]
