"""
The audit trail a newcomer finds on a fresh install (`manage.py bootstrap`):

- a month of history: a few thousand events from the vendor's application (a document
  workspace used by four customers, posted in bulk as the Audit API receives them), the
  operator's sign-ins on this site and the monitoring engine's alerts, shaped like real use
  (office hours, quiet weekends, a busier recent week, a night of password guessing), so the
  dashboard's charts have a shape;
- Foreman's side: locations, organizations and hosts, set up and changed by the operator
  through the models' automatic auditing, so `/api/hosts/:id/audits` and the host, location
  and organization filters find something;
- a morning of application events and two customers' logs, for the Retraced viewer.

Seeded: the same clock gives the same rows, so the README's screenshots keep their look.
"""

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from audits.context import AuditActor, AuditTarget, actor_for_user, audit_context
from audits.ingest import event_validate
from audits.models import ActorType, AuditEvent, AuditSource, Crud, Host, Location, Organization
from audits.services import (
    audit_event_build,
    audit_event_record,
    audit_events_append,
    audit_events_ingest,
)

DEMO_SEED = 17
HISTORY_DAYS = 30
# Integration and site events per hour at the busiest hour of a recent weekday. With the
# shapes below this makes about 3,000 events over the month.
PEAK_EVENTS_PER_HOUR = 19.0
# Of those, the operator's own sign-ins on this site; the rest is the application's.
SITE_SHARE = 0.08
# The monitoring engine does not keep office hours: its alerts come at any time.
SYSTEM_EVENTS_PER_HOUR = 0.2
# UTC hour -> share of the peak: the customers' working day, a dip at lunch.
HOUR_SHAPE = (
    0.04, 0.03, 0.03, 0.03, 0.05, 0.10, 0.22, 0.45, 0.80, 1.00, 0.95, 0.90,
    0.65, 0.85, 0.95, 0.90, 0.75, 0.50, 0.30, 0.20, 0.14, 0.10, 0.07, 0.05,
)  # fmt: skip
WEEKEND_SHARE = 0.25
# Where the vendor's application posts from (its bulk requests' address).
VENDOR_APP_ADDRESS = "10.0.0.5"
OPERATOR_ADDRESS = "198.51.100.7"
# The night someone tried passwords against Acme's accounts: days ago, UTC hour, attempts.
PASSWORD_GUESSING = (6, 3, 40)
GUESSER_ADDRESS = "203.0.113.9"


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    address: str


# The vendor's customers (Retraced groups) and their people; weights say who is busiest.
CUSTOMERS: dict[str, tuple[str, int, tuple[Person, ...]]] = {
    "acme": (
        "Acme Corp",
        40,
        (
            Person("alice@acme.example", "Alice", "192.0.2.10"),
            Person("bob@acme.example", "Bob", "192.0.2.11"),
            Person("carol@acme.example", "Carol", "192.0.2.12"),
            Person("dave@acme.example", "Dave", "192.0.2.13"),
        ),
    ),
    "globex": (
        "Globex",
        30,
        (
            Person("hank@globex.example", "Hank", "198.51.100.40"),
            Person("marge@globex.example", "Marge", "198.51.100.41"),
            Person("frank@globex.example", "Frank", "198.51.100.42"),
        ),
    ),
    "initech": (
        "Initech",
        20,
        (
            Person("peter@initech.example", "Peter", "203.0.113.60"),
            Person("joanna@initech.example", "Joanna", "203.0.113.61"),
        ),
    ),
    "umbrella": (
        "Umbrella",
        10,
        (Person("ada@umbrella.example", "Ada", "192.0.2.80"),),
    ),
}
DOCUMENTS = (
    "Q3 plan",
    "Q4 budget",
    "Board deck",
    "Hiring plan",
    "Roadmap 2027",
    "Security review",
    "Vendor contracts",
    "Onboarding guide",
)


@dataclass(frozen=True)
class AppAction:
    action: str
    crud: str
    title: str
    weight: int
    target: str  # "document", "user", "workspace" or "" (none)
    failure_rate: float = 0.0
    failure_reason: str = ""


APP_ACTIONS = (
    AppAction("user.login.success", Crud.READ, "User Login Success", 26, ""),
    AppAction("user.login.failure", Crud.READ, "User Login Failure", 3, "", 1.0, "wrong password"),
    AppAction("user.logout", Crud.READ, "User Logout", 9, ""),
    AppAction("document.view", Crud.READ, "Document Viewed", 22, "document"),
    AppAction("document.create", Crud.CREATE, "Document Created", 7, "document"),
    AppAction("document.update", Crud.UPDATE, "Document Updated", 14, "document"),
    AppAction("document.share", Crud.UPDATE, "Document Shared", 5, "document"),
    AppAction(
        "document.export", Crud.READ, "Document Exported", 4, "document", 0.15, "export timed out"
    ),
    AppAction("document.delete", Crud.DELETE, "Document Deleted", 2, "document"),
    AppAction("member.invite", Crud.CREATE, "Member Invited", 2, "user"),
    AppAction("member.remove", Crud.DELETE, "Member Removed", 1, "user"),
    AppAction(
        "settings.update", Crud.UPDATE, "Settings Updated", 1, "workspace", 0.2, "not an owner"
    ),
)
# The monitoring engine's alerts on the monitoring demo's clients (monitoring/demo.py).
ENGINE_ALERTS = (
    ("web-2", "check_http", "WARNING", "HTTP WARNING: 1.9 s response time"),
    ("db-1", "check_disk", "WARNING", "DISK WARNING: /var/lib/postgresql 83%"),
    ("db-1", "check_backup", "CRITICAL", "CRITICAL: last backup 27 hours ago"),
    ("web-1", "check_http", "CRITICAL", "HTTP CRITICAL: connection refused"),
)


def load_audit_demo(say) -> None:
    """Registered for `manage.py bootstrap`, which runs it once, on a fresh database."""
    operator = _operator_user()
    rng = random.Random(DEMO_SEED)
    now = timezone.now()
    counts = audit_history_load(rng=rng, now=now, operator=operator)
    failures = counts.pop("failures")
    say(
        f"  {sum(counts.values()):,} audit events over the last {HISTORY_DAYS} days ("
        + ", ".join(f"{n:,} {source}" for source, n in counts.items())
        + f"; {failures} failures)"
    )
    samples = _morning_samples_load(now=now)
    say(f"  {samples} application audit events this morning (2 customer groups)")
    hosts, taxonomies = foreman_hosts_load(rng=rng, operator=operator)
    say(
        f"  {hosts} Foreman hosts in {taxonomies} locations and organizations, set up and "
        "changed by the staff user 'operator' (their audits under /api/hosts/:id/audits)"
    )


def _operator_user():
    User = get_user_model()
    operator = User.objects.filter(username="operator").first()
    if operator is None:
        operator = User.objects.create_user(
            username="operator", email="operator@example.com", password=None, is_staff=True
        )
    return operator


def _request_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# --- A month of history ------------------------------------------------------------------


def _hourly_rate(slot_start: datetime, age_days: int) -> float:
    """Expected integration and site events in the hour starting at `slot_start`."""
    recent = 0.4 + 0.6 * (1 - age_days / HISTORY_DAYS)  # the app gains users over the month
    weekend = WEEKEND_SHARE if slot_start.weekday() >= 5 else 1.0
    return PEAK_EVENTS_PER_HOUR * HOUR_SHAPE[slot_start.hour] * recent * weekend


def _draw_count(rng: random.Random, expected: float) -> int:
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


def _times_in_hour(rng: random.Random, end: datetime, count: int) -> list[datetime]:
    # Strictly before `end` (at most now): no event is dated in the future.
    return sorted(end - timedelta(seconds=rng.uniform(1, 3599)) for _ in range(count))


@dataclass
class HistoryDay:
    """One day of the history: what the application posts, and the site's own events."""

    posted: list[dict]  # the application's events, as the bulk Audit API receives them
    built: list[AuditEvent]  # unsaved: the operator's sign-ins and the engine's alerts


def audit_history(*, rng: random.Random, now: datetime, operator) -> Iterator[HistoryDay]:
    """The month before `now`, a day at a time, oldest first; each day's events in time order."""
    guess_day, guess_hour, guesses = PASSWORD_GUESSING
    for age_days in range(HISTORY_DAYS - 1, -1, -1):
        day = HistoryDay(posted=[], built=[])
        for hour in range(23, -1, -1):
            end = now - timedelta(days=age_days, hours=hour)
            slot_start = end - timedelta(hours=1)
            expected = _hourly_rate(slot_start, age_days)
            for created in _times_in_hour(rng, end, _draw_count(rng, expected)):
                if rng.random() < SITE_SHARE:
                    day.built.append(_site_event(rng, created, operator))
                else:
                    day.posted.append(_app_event(rng, created))
            for created in _times_in_hour(rng, end, _draw_count(rng, SYSTEM_EVENTS_PER_HOUR)):
                day.built.append(_engine_event(rng, created))
            if (age_days, slot_start.hour) == (guess_day, guess_hour):
                day.posted += [_guess(rng, t) for t in _times_in_hour(rng, end, guesses)]
        day.posted.sort(key=lambda payload: payload["created"])
        day.built.sort(key=lambda event: event.created_at)
        yield day


def audit_history_load(*, rng: random.Random, now: datetime, operator) -> Counter:
    """
    Store the month of `audit_history`. The application's events go through the bulk Audit
    API's own path (validated, then stored and linked in one transaction per request, as
    `POST /audit/v1/event/bulk` does) with their `created` time; the site's and the engine's
    are appended as one batch a day. Returns the counts by source, and of failures.
    """
    counts = Counter({source.value: 0 for source in AuditSource})
    for day in audit_history(rng=rng, now=now, operator=operator):
        _post_in_bulk(rng, day.posted)
        audit_events_append(day.built)
        counts[AuditSource.INTEGRATION] += len(day.posted)
        counts.update(event.source for event in day.built)
        counts["failures"] += sum(bool(payload["is_failure"]) for payload in day.posted)
        counts["failures"] += sum(event.is_failure for event in day.built)
    return counts


def _post_in_bulk(rng: random.Random, payloads: list[dict]) -> None:
    """As the vendor's application posts them: bulk requests of at most the API's limit."""
    size = settings.AUDIT_BULK_MAX_EVENTS
    for start in range(0, len(payloads), size):
        events = [event_validate(payload) for payload in payloads[start : start + size]]
        with audit_context(
            actor=AuditActor(type=ActorType.API_TOKEN, name="token:vendor-app"),
            remote_address=VENDOR_APP_ADDRESS,
            request_uuid=_request_uuid(rng),
        ):
            audit_events_ingest(events=events, caller_ip=VENDOR_APP_ADDRESS, bulk=True)


def _pick_customer(rng: random.Random) -> tuple[str, str, Person]:
    group_ids = list(CUSTOMERS)
    group_id = rng.choices(group_ids, weights=[CUSTOMERS[g][1] for g in group_ids])[0]
    group_name, _, people = CUSTOMERS[group_id]
    return group_id, group_name, rng.choice(people)


def _app_event(rng: random.Random, created: datetime) -> dict:
    """One event as the vendor's application posts it (Retraced's event shape)."""
    group_id, group_name, person = _pick_customer(rng)
    app = rng.choices(APP_ACTIONS, weights=[a.weight for a in APP_ACTIONS])[0]
    failed = rng.random() < app.failure_rate
    payload = {
        "action": app.action,
        "crud": app.crud,
        "name": app.action.rsplit(".", 1)[0],
        "title": app.title,
        "source_ip": person.address,
        "actor": {"id": person.email, "name": person.name},
        "group": {"id": group_id, "name": group_name},
        "is_failure": failed,
        "created": created.isoformat(),
        "component": "web",
    }
    what = ""
    if app.target == "document":
        document = rng.choice(DOCUMENTS)
        slug = document.lower().replace(" ", "-")
        payload["target"] = {"type": "document", "id": f"{group_id}-{slug}", "name": document}
        what = f" {document}"
    elif app.target == "user":
        colleague = f"new.hire{rng.randint(1, 40)}@{group_id}.example"
        payload["target"] = {"type": "user", "id": colleague, "name": colleague}
        what = f" {colleague}"
    elif app.target == "workspace":
        payload["target"] = {"type": "workspace", "id": group_id, "name": group_name}
        payload["fields"] = {"setting": rng.choice(["sso", "retention", "sharing"])}
    outcome = f": {app.failure_reason}" if failed else ""
    payload["description"] = f"{person.email} {app.title.lower()}{what}{outcome}"
    return payload


def _guess(rng: random.Random, created: datetime) -> dict:
    """One of the night's password guesses against an Acme account."""
    victim = rng.choice(CUSTOMERS["acme"][2])
    return {
        "action": "user.login.failure",
        "crud": Crud.READ,
        "name": "user.login",
        "title": "User Login Failure",
        "description": f"{victim.email}: wrong password",
        "source_ip": GUESSER_ADDRESS,
        "actor": {"id": victim.email, "name": victim.name},
        "group": {"id": "acme", "name": CUSTOMERS["acme"][0]},
        "is_failure": True,
        "created": created.isoformat(),
        "component": "web",
    }


def _site_event(rng: random.Random, created: datetime, operator) -> AuditEvent:
    """The operator on this site's console: sign-ins, sign-outs, now and then a typo."""
    name = operator.get_username()
    target = AuditTarget(type="User", id=str(operator.pk), name=name)
    roll = rng.random()
    if roll < 0.1:
        return audit_event_build(
            action="login.failure",
            crud=Crud.READ,
            source=AuditSource.SITE,
            actor=AuditActor(type=ActorType.ANONYMOUS, name=name),
            target=AuditTarget(type="User", name=name),
            description=f"failed sign-in for {name!r}",
            is_failure=True,
            remote_address=OPERATOR_ADDRESS,
            request_uuid=_request_uuid(rng),
            created_at=created,
        )
    action, verb = ("login", "signed in") if roll < 0.65 else ("logout", "signed out")
    return audit_event_build(
        action=action,
        crud=Crud.READ,
        source=AuditSource.SITE,
        actor=actor_for_user(operator),
        target=target,
        description=f"{name} {verb}",
        remote_address=OPERATOR_ADDRESS,
        request_uuid=_request_uuid(rng),
        created_at=created,
    )


def _engine_event(rng: random.Random, created: datetime) -> AuditEvent:
    """An alert raised or resolved by the monitoring engine, as monitoring/engine.py audits."""
    client, check, severity, output = rng.choice(ENGINE_ALERTS)
    resolving = rng.random() < 0.5
    action, crud = ("resolve", Crud.DELETE) if resolving else ("create", Crud.CREATE)
    status = 0 if resolving else {"WARNING": 1, "CRITICAL": 2}[severity]
    shown = "OK" if resolving else severity
    output = f"{check} OK" if resolving else output
    return audit_event_build(
        action=action,
        crud=crud,
        source=AuditSource.SYSTEM,
        target=AuditTarget(type="SensuEvent", id=_request_uuid(rng), name=f"{client}/{check}"),
        associated=AuditTarget(type="Client", name=client),
        description=f"{client}/{check} {action}: {shown} (occurrences 1) {output}",
        audited_changes={"status": status, "action": action, "occurrences": 1, "output": output},
        request_uuid=_request_uuid(rng),
        created_at=created,
    )


# --- This morning: the application's latest events and two customers' logs ---------------


def _morning_samples_load(*, now: datetime) -> int:
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
            GUESSER_ADDRESS,
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
    customers = [("acme", CUSTOMERS["acme"][2][0]), ("globex", CUSTOMERS["globex"][2][0])]
    changes = [
        ("document.create", Crud.CREATE, "Created the Q4 budget"),
        ("document.update", Crud.UPDATE, "Renamed the Q4 budget"),
        ("member.invite", Crud.CREATE, "Invited a new team member"),
        ("document.delete", Crud.DELETE, "Deleted an old draft"),
    ]
    for group_id, person in customers:
        group_name = CUSTOMERS[group_id][0]
        for minutes, (action, crud, description) in enumerate(changes):
            audit_event_record(
                action=action,
                description=description,
                source=AuditSource.INTEGRATION,
                crud=crud,
                actor=AuditActor(type=ActorType.INTEGRATION, id=person.email, name=person.name),
                remote_address=person.address,
                target=AuditTarget(type="document", id=f"{group_id}-budget", name="Q4 budget"),
                group_id=group_id,
                group_name=group_name,
                created_at=now - timedelta(minutes=45 - 10 * minutes),
            )
    return len(samples) + len(customers) * len(changes)


# --- Foreman: hosts, locations, organizations ---------------------------------------------

DEMO_LOCATIONS = (
    ("Paris", "Europe/Paris", "The main data centre"),
    ("Frankfurt", "Europe/Frankfurt", "Databases and build machines"),
    ("Virginia", "America/Virginia", "GPU capacity rented by the hour"),
)
DEMO_ORGANIZATIONS = (
    ("Operations", "Operations", "Runs the production site"),
    ("Research", "Research", "Builds and experiments"),
)
# name, ip, mac, location, organization, comment
DEMO_HOSTS = (
    ("web-1.example.com", "10.0.0.11", "52:54:00:0a:00:0b", "Paris", "Operations", "Front end"),
    ("web-2.example.com", "10.0.0.12", "52:54:00:0a:00:0c", "Paris", "Operations", "Front end"),
    ("db-1.example.com", "10.0.0.21", "52:54:00:0a:00:15", "Paris", "Operations", "PostgreSQL"),
    ("build-1.example.com", "10.0.1.5", "52:54:00:0a:01:05", "Frankfurt", "Research", "CI"),
    ("gpu-1.example.com", "10.0.2.9", "52:54:00:0a:02:09", "Virginia", "Research", "Training"),
    ("old-web.example.com", "10.0.0.9", "52:54:00:0a:00:09", "Paris", "Operations", "Retiring"),
)


def foreman_hosts_load(*, rng: random.Random, operator) -> tuple[int, int]:
    """
    The operator sets up locations, organizations and hosts, then moves the database to
    Frankfurt, notes web-2's role, renumbers gpu-1 and retires old-web: each change a save()
    through the models' automatic auditing (audits/foreman/auditing.py), so the trail holds
    what Foreman's would, each event linked to its host's locations and organizations.
    Returns (hosts kept, locations + organizations).
    """

    def as_operator():
        # One request per step, as if each were a save in the admin.
        return audit_context(
            actor=actor_for_user(operator),
            remote_address=OPERATOR_ADDRESS,
            request_uuid=_request_uuid(rng),
        )

    with as_operator():
        locations = {
            name: Location.objects.create(name=name, title=title, description=description)
            for name, title, description in DEMO_LOCATIONS
        }
        organizations = {
            name: Organization.objects.create(name=name, title=title, description=description)
            for name, title, description in DEMO_ORGANIZATIONS
        }
    hosts = {}
    for name, ip, mac, location, organization, comment in DEMO_HOSTS:
        with as_operator():
            hosts[name] = Host.objects.create(
                name=name,
                ip=ip,
                mac=mac,
                comment=comment,
                location=locations[location],
                organization=organizations[organization],
            )
    changes = (
        ("db-1.example.com", {"location": locations["Frankfurt"]}),
        ("web-2.example.com", {"comment": "Front end; standby behind the load balancer"}),
        ("gpu-1.example.com", {"ip": "10.0.2.19"}),
        ("db-1.example.com", {"comment": "PostgreSQL 17 primary"}),
    )
    for name, values in changes:
        host = hosts[name]
        for field, value in values.items():
            setattr(host, field, value)
        with as_operator():
            host.save()
    with as_operator():
        hosts.pop("old-web.example.com").delete()
    return len(hosts), len(locations) + len(organizations)
