"""The admin of handlers, filters and mutators: forms validated as sensu_import validates."""

import importlib.util
import uuid
from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.models import AuditEvent
from monitoring.models import Filter, Handler, HandlerRun, HandlerRunState, Mutator

pytestmark = pytest.mark.django_db

HANDLERS_URL = "/admin/monitoring/handler/"
SECRET = "Bearer very-secret-token-42"


def handler_form(**values) -> dict:
    """Everything the handler form posts, empty unless given."""
    data = {
        "name": "h",
        "type": "pipe",
        "command": "",
        "socket_host": "",
        "socket_port": "",
        "pipe": "{}",
        "handlers": "",
        "http_url": "",
        "http_headers": "{}",
        "http_retries": "3",
        "filters": "",
        "mutator": "",
        "timeout": "",
        "attributes": "{}",
    }
    data.update(values)
    return data


@pytest.fixture
def staff(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"type": "pipe", "command": "mail ops", "severities": ["critical"], "filters": "a, b"},
            {"command": "mail ops", "severities": ["critical"], "filters": ["a", "b"]},
        ),
        (
            {"type": "tcp", "socket_host": "graphite", "socket_port": "2003"},
            {"socket_host": "graphite", "socket_port": 2003},
        ),
        (
            {"type": "udp", "socket_host": "statsd", "socket_port": "8125"},
            {"socket_host": "statsd", "socket_port": 8125},
        ),
        (
            {"type": "transport", "pipe": '{"type": "direct", "name": "events"}'},
            {"pipe": {"type": "direct", "name": "events"}},
        ),
        ({"type": "set", "handlers": "mail, pagerduty"}, {"handlers": ["mail", "pagerduty"]}),
        (
            {"type": "http", "http_url": "https://hooks.example/x", "http_headers": '{"X-A": "1"}'},
            {"http_url": "https://hooks.example/x", "http_headers": {"X-A": "1"}},
        ),
    ],
)
def test_each_handler_type_is_added_through_its_fieldset(staff, values, expected):
    page = staff.get(f"{HANDLERS_URL}add/").content.decode()
    for fieldset in ("Pipe", "TCP and UDP", "Transport", "Set", "HTTP webhook"):
        assert f">{fieldset}</h2>" in page
    response = staff.post(f"{HANDLERS_URL}add/", handler_form(**values))
    assert response.status_code == 302, response.content.decode()[:3000]
    handler = Handler.objects.get(name="h")
    assert handler.type == values["type"]
    for field, value in expected.items():
        assert getattr(handler, field) == value
    # The change page renders the saved handler back.
    assert staff.get(f"{HANDLERS_URL}{handler.pk}/change/").status_code == 200


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        (
            {"type": "tcp", "socket_host": "graphite"},
            "socket_port",
            "socket.port: must be an integer",
        ),
        ({"type": "http", "http_url": ""}, "http_url", "http.url: must be an http:// or https://"),
        ({"type": "transport", "pipe": '{"type": "queue"}'}, "pipe", "pipe.type: must be"),
        ({"type": "pipe", "command": "x", "timeout": "0"}, None, ""),
    ],
)
def test_an_invalid_handler_shows_the_problem_on_its_field(staff, values, field, message):
    response = staff.post(f"{HANDLERS_URL}add/", handler_form(**values))
    assert response.status_code == 200
    form = response.context["adminform"].form
    if field is None:
        assert "timeout" in form.errors  # Refused by the model field before validation.
    else:
        assert any(message in error for error in form.errors[field])
    assert not Handler.objects.exists()


def test_header_values_are_never_shown_and_kept_unless_replaced(staff):
    staff.post(
        f"{HANDLERS_URL}add/",
        handler_form(
            name="hook",
            type="http",
            http_url="https://hooks.example/x",
            http_headers=f'{{"Authorization": "{SECRET}", "X-Team": "ops"}}',
        ),
    )
    hook = Handler.objects.get(name="hook")
    assert hook.http_headers == {"Authorization": SECRET, "X-Team": "ops"}
    change_url = f"{HANDLERS_URL}{hook.pk}/change/"
    page = staff.get(change_url).content.decode()
    assert SECRET not in page
    assert "REDACTED" in page
    # Posting the masked form back keeps both values; a typed value replaces one.
    masked = '{"Authorization": "REDACTED", "X-Team": "platform"}'
    response = staff.post(
        change_url,
        handler_form(
            name="hook", type="http", http_url="https://hooks.example/x", http_headers=masked
        ),
    )
    assert response.status_code == 302
    hook.refresh_from_db()
    assert hook.http_headers == {"Authorization": SECRET, "X-Team": "platform"}
    # A new header cannot be "REDACTED": there is no stored value to keep.
    response = staff.post(
        change_url,
        handler_form(
            name="hook",
            type="http",
            http_url="https://hooks.example/x",
            http_headers='{"Authorization": "REDACTED", "X-New": "REDACTED"}',
        ),
    )
    assert "Header &#x27;X-New&#x27; is new: give it a value." in response.content.decode()
    # The trail has the create and the update, with every header value masked.
    trail = AuditEvent.objects.filter(target_type="SensuHandler", target_name="hook")
    assert sorted(trail.values_list("action", flat=True)) == ["create", "update"]
    recorded = str(list(trail.values_list("audited_changes", flat=True)))
    assert SECRET not in recorded and "platform" not in recorded and "ops" not in recorded
    update = trail.get(action="update").audited_changes
    assert update["http_headers"] == [
        {"Authorization": "[redacted]", "X-Team": "[redacted]"},
        {"Authorization": "[redacted]", "X-Team": "[redacted]"},
    ]


def make_runs(handler: str, *, ok: int, failed: int, timed_out: int = 0, old: int = 0) -> None:
    now = timezone.now()
    states = (
        [HandlerRunState.SUCCEEDED] * ok
        + [HandlerRunState.FAILED] * failed
        + [HandlerRunState.TIMED_OUT] * timed_out
        + [HandlerRunState.FILTERED]
    )
    rows = [
        HandlerRun(
            event_uuid=uuid.uuid4(),
            client_name="web-1",
            check_name="http",
            action="create",
            status=2,
            handler=handler,
            handler_type="pipe",
            state=state,
        )
        for state in states
    ]
    # Older than the changelist's 24 hours: not counted.
    rows += [
        HandlerRun(
            event_uuid=uuid.uuid4(),
            client_name="web-1",
            check_name="http",
            action="create",
            status=2,
            handler=handler,
            handler_type="pipe",
            state=HandlerRunState.FAILED,
            created_at=now - timedelta(hours=25),
        )
        for _ in range(old)
    ]
    HandlerRun.objects.bulk_create(rows)


def changelist_queries(staff) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        page = staff.get(HANDLERS_URL).content.decode()
    return page, len(queries)


def test_handler_changelist_counts_runs_and_failures_of_the_last_24_hours(staff):
    Handler.objects.create(name="mail", type="pipe", command="mail")
    make_runs("mail", ok=3, failed=1, timed_out=1, old=4)
    page, one_handler = changelist_queries(staff)
    assert "Runs (24 h)" in page and "Failed (24 h)" in page
    row = page.split('class="field-name"')[1].split("</tr>")[0]
    # Succeeded, failed and timed out count; filtered runs and older ones do not.
    assert '<td class="field-runs_24h">5</td>' in row or ">5</a></td>" in row
    assert '<span class="severity-critical">2</span>' in row
    for n in range(5):
        Handler.objects.create(name=f"h{n}", type="pipe", command="x")
        make_runs(f"h{n}", ok=n, failed=1)
    _, six_handlers = changelist_queries(staff)
    assert six_handlers == one_handler  # The counts come with the list: no query per row.


@pytest.mark.skipif(
    not any(model is HandlerRun for model in admin.site._registry),
    reason="the HandlerRun admin (monitoring/handling) is not installed",
)
def test_handler_changelist_links_to_the_handlers_runs(staff):
    Handler.objects.create(name="mail", type="pipe", command="mail")
    page = staff.get(HANDLERS_URL).content.decode()
    assert "/admin/monitoring/handlerrun/?handler=mail" in page


def test_filters_and_mutators_are_added_and_changed(staff):
    assert staff.get("/admin/monitoring/filter/add/").status_code == 200
    response = staff.post(
        "/admin/monitoring/filter/add/",
        {
            "name": "production",
            "attributes": '{"client": {"environment": "production"}}',
            "negate": "on",
            "when": '{"days": {"all": [{"begin": "9:00 AM", "end": "5:00 PM"}]}}',
        },
    )
    assert response.status_code == 302
    production = Filter.objects.get(name="production")
    assert production.negate is True
    assert staff.get(f"/admin/monitoring/filter/{production.pk}/change/").status_code == 200
    response = staff.post(
        "/admin/monitoring/filter/add/",
        {"name": "bad", "attributes": "{}", "when": '{"days": {"someday": []}}'},
    )
    assert "when.days.someday: must be a day of the week" in response.content.decode()
    assert staff.get("/admin/monitoring/mutator/add/").status_code == 200
    response = staff.post(
        "/admin/monitoring/mutator/add/", {"name": "tag", "command": "tag.rb", "timeout": "5"}
    )
    assert response.status_code == 302
    tag = Mutator.objects.get(name="tag")
    assert staff.get(f"/admin/monitoring/mutator/{tag.pk}/change/").status_code == 200
    trail = set(AuditEvent.objects.values_list("target_type", "target_name", "action"))
    assert {("SensuFilter", "production", "create"), ("SensuMutator", "tag", "create")} <= trail


@pytest.mark.skipif(
    importlib.util.find_spec("monitoring.handling") is None
    or importlib.util.find_spec("monitoring.handling.expressions") is None,
    reason="monitoring.handling.expressions (the eval: language) is not installed",
)
def test_an_eval_expression_the_language_refuses_is_a_form_error(staff):
    response = staff.post(
        "/admin/monitoring/filter/add/",
        {"name": "ruby", "attributes": '{"check": {"output": "eval: system(1)"}}', "when": "{}"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["attributes"]
    assert any("attributes.check.output: eval expression is invalid" in e for e in errors)
    assert not Filter.objects.exists()
