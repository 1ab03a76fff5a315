"""
Sensu 1.x definitions in their JSON form: validation as sensu-settings' validators check
them, the round trip JSON -> model -> as_sensu, and /settings listing them.
"""

import importlib.util
import threading
from datetime import time

import pytest
from django.db import connection

from audits.models import AuditEvent
from monitoring.definitions import (
    DefinitionInvalid,
    check_validate,
    definition_save,
    filter_validate,
    handler_validate,
    mutator_validate,
)
from monitoring.handling.filters import clock_parse
from monitoring.models import CheckDefinition, Filter, Handler, Mutator

needs_expressions = pytest.mark.skipif(
    importlib.util.find_spec("monitoring.handling") is None
    or importlib.util.find_spec("monitoring.handling.expressions") is None,
    reason="monitoring.handling.expressions (the eval: language) is not installed",
)


def problems_of(validate, name, data) -> dict[str, str]:
    with pytest.raises(DefinitionInvalid) as caught:
        validate(name, data)
    assert caught.value.name == name
    return {p.field: p.message for p in caught.value.problems}


# --- Checks: sensu-settings validators/check.rb -------------------------------------------

GOOD_CHECK = {"command": "check-http.rb", "subscribers": ["web"], "interval": 60}


@pytest.mark.parametrize(
    "check",
    [
        GOOD_CHECK,
        # validate_check_scheduling: standalone checks need no subscribers.
        {"command": "x", "standalone": True, "interval": 30},
        # publish false needs no interval; cron replaces it.
        {"command": "x", "subscribers": [], "publish": False},
        {"command": "x", "subscribers": ["a"], "cron": "*/5 * * * *"},
        # validate_check_execution: an extension instead of a command.
        {"extension": "ruby_check", "subscribers": ["a"], "interval": 10},
        {
            **GOOD_CHECK,
            "handlers": ["default", "mail"],
            "ttl": 120,
            "ttl_status": 2,
            "low_flap_threshold": 20,
            "high_flap_threshold": 60,
            "source": "switch-:::name:::",
            "aggregates": ["web:prod"],
            "hooks": {"critical": {"command": "ps aux", "timeout": 10}},
            "subdue": {"days": {"all": [{"begin": "5:00 PM", "end": "8:00 AM"}]}},
            "proxy_requests": {"client_attributes": {"keepalives": False}, "splay": True},
            "occurrences": 3,
        },
    ],
)
def test_valid_check_definitions_pass(check):
    check_validate("check_http", check)


@pytest.mark.parametrize(
    ("name", "check", "field", "message"),
    [
        # validate_check_name
        ("check http", GOOD_CHECK, "name", "cannot contain spaces or special characters"),
        # validate_check_execution: command xor extension
        ("c", {"subscribers": [], "interval": 1}, "command", "either check command or extension"),
        ("c", {**GOOD_CHECK, "extension": "e"}, "command", "either check command or extension"),
        ("c", {**GOOD_CHECK, "command": 7}, "command", "must be a string"),
        ("c", {**GOOD_CHECK, "timeout": "10"}, "timeout", "must be numeric"),
        # validate_check_scheduling
        ("c", {"command": "x", "subscribers": []}, "interval", "must be an integer from 1"),
        ("c", {**GOOD_CHECK, "interval": 0}, "interval", "must be an integer from 1"),
        ("c", {**GOOD_CHECK, "interval": 1.5}, "interval", "must be an integer from 1"),
        ("c", {"command": "x", "interval": 5}, "subscribers", "must be an array"),
        ("c", {**GOOD_CHECK, "subscribers": ["a", ""]}, "subscribers", "non-empty string"),
        ("c", {**GOOD_CHECK, "standalone": "yes"}, "standalone", "must be true or false"),
        ("c", {**GOOD_CHECK, "cron": "every day"}, "cron", "must use the cron syntax"),
        # validate_check_source
        ("c", {**GOOD_CHECK, "source": "a b"}, "source", "cannot contain spaces"),
        # validate_check_handling
        ("c", {**GOOD_CHECK, "handler": ["a"]}, "handler", "must be a string"),
        ("c", {**GOOD_CHECK, "handlers": "default"}, "handlers", "must be an array"),
        # validate_check_ttl: 0 is true in Ruby, so it is checked and refused.
        ("c", {**GOOD_CHECK, "ttl": 0}, "ttl", "must be an integer from 1"),
        ("c", {**GOOD_CHECK, "ttl_status": "2"}, "ttl_status", "must be an integer from 0"),
        # validate_check_aggregate
        ("c", {**GOOD_CHECK, "aggregates": ["a b"]}, "aggregates", "without spaces"),
        ("c", {**GOOD_CHECK, "aggregate": 5}, "aggregate", "string (name) or boolean"),
        # validate_check_flap_detection: both thresholds once either is set
        ("c", {**GOOD_CHECK, "low_flap_threshold": 20}, "high_flap_threshold", "integer"),
        # validate_check_hooks
        ("c", {**GOOD_CHECK, "hooks": {"bad": {"command": "x"}}}, "hooks.bad", "hook key"),
        # validate_check_subdue (time_window.rb)
        ("c", {**GOOD_CHECK, "subdue": {"days": {}}}, "subdue.days", "at least one day"),
        (
            "c",
            {**GOOD_CHECK, "subdue": {"days": {"all": [{"begin": "25:00", "end": "1:00"}]}}},
            "subdue.days.all",
            "begin and end must be times",
        ),
        # proxy_requests
        (
            "c",
            {**GOOD_CHECK, "proxy_requests": {"splay_coverage": 100, "client_attributes": {}}},
            "proxy_requests.splay_coverage",
            "greater than 0 and less than 100",
        ),
        # Beyond Sensu: our columns' bounds.
        ("c", {**GOOD_CHECK, "type": "pager"}, "type", '"standard" or "metric"'),
    ],
)
def test_invalid_check_definitions_name_the_field_and_the_problem(name, check, field, message):
    problems = problems_of(check_validate, name, check)
    assert message in problems[field]


def test_a_definition_that_is_not_an_object_is_refused():
    assert problems_of(handler_validate, "h", ["pipe"]) == {"definition": "must be an object"}


# --- Handlers: validators/handler.rb ------------------------------------------------------


@pytest.mark.parametrize(
    "handler",
    [
        {"type": "pipe", "command": "mail -s alert ops@example.com", "severities": ["critical"]},
        {"type": "tcp", "socket": {"host": "10.0.0.5", "port": 2003}, "timeout": 2.5},
        {
            "type": "udp",
            "socket": {"host": "graphite", "port": 2003},
            "mutator": "only_check_output",
        },
        {"type": "transport", "pipe": {"type": "topic", "name": "events", "options": {}}},
        {"type": "set", "handlers": ["mail", "graphite"]},
        {"type": "http", "http": {"url": "https://hooks.example.com/x", "headers": {"X-Key": "s"}}},
        {"type": "pipe", "command": "x", "filters": ["occurrences"], "handle_flapping": True},
        {"type": "pipe", "command": "x", "filter": "production"},
    ],
)
def test_valid_handler_definitions_pass(handler):
    handler_validate("mail", handler)


@pytest.mark.parametrize(
    ("handler", "field", "message"),
    [
        # validate_handler_type
        ({"command": "x"}, "type", "must be a string"),
        ({"type": "email"}, "type", "unknown handler type"),
        # validate_pipe_handler
        ({"type": "pipe"}, "command", "must be a string"),
        # validate_socket_handler
        ({"type": "tcp", "socket": "h:1"}, "socket", "must be an object"),
        ({"type": "tcp", "socket": {"host": "h", "port": "80"}}, "socket.port", "integer"),
        ({"type": "udp", "socket": {"port": 80}}, "socket.host", "must be a string"),
        ({"type": "udp", "socket": {"host": "h", "port": 70000}}, "socket.port", "from 1 to"),
        # validate_transport_handler
        ({"type": "transport", "pipe": {"type": "queue", "name": "x"}}, "pipe.type", "direct"),
        ({"type": "transport", "pipe": {"type": "direct"}}, "pipe.name", "must be a string"),
        # validate_set_handler
        ({"type": "set", "handlers": "mail"}, "handlers", "must be an array"),
        ({"type": "set", "handlers": ["mail", 3]}, "handlers", "non-empty string"),
        # validate_handler_filtering / severities
        ({"type": "pipe", "command": "x", "filters": "f"}, "filters", "must be an array"),
        ({"type": "pipe", "command": "x", "filter": ["f"]}, "filter", "must be a string"),
        ({"type": "pipe", "command": "x", "severities": ["fatal"]}, "severities", "one of ok"),
        # validate_handler
        ({"type": "pipe", "command": "x", "timeout": "5"}, "timeout", "must be numeric"),
        ({"type": "pipe", "command": "x", "mutator": 1}, "mutator", "must be a string"),
        ({"type": "pipe", "command": "x", "handle_silenced": 1}, "handle_silenced", "true or"),
        # http, beyond Sensu 1.x
        ({"type": "http"}, "http", "must be an object with a url"),
        ({"type": "http", "http": {"url": "ftp://x"}}, "http.url", "http:// or https://"),
        ({"type": "http", "http": {"url": "http://x", "headers": {"A": 1}}}, "http.headers", ""),
        ({"type": "http", "http": {"url": "http://x", "retries": 99}}, "http.retries", "0 to 10"),
        (
            {"type": "http", "http": {"url": "https://user:pw@h.example/x"}},
            "http.url",
            "must not carry credentials",
        ),
    ],
)
def test_invalid_handler_definitions_name_the_field_and_the_problem(handler, field, message):
    problems = problems_of(handler_validate, "mail", handler)
    assert message in problems[field]


# --- Filters and mutators: validators/filter.rb, mutator.rb -------------------------------


def test_valid_filter_and_mutator_definitions_pass():
    filter_validate("production", {"attributes": {"client": {"environment": "production"}}})
    filter_validate(
        "office_hours",
        {
            "negate": True,
            "attributes": {"check": {"status": 2}},
            "when": {"days": {"monday": [{"begin": "9:00 AM", "end": "17:30"}]}},
        },
    )
    mutator_validate("tag", {"command": "tag.rb", "timeout": 5})


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "attributes", "must be an object"),
        ({"attributes": {}, "negate": "true"}, "negate", "must be true or false"),
        ({"attributes": {}, "when": []}, "when", "must be an object"),
        ({"attributes": {}, "when": {"days": {"funday": [{}]}}}, "when.days.funday", "day of"),
        ({"attributes": {}, "when": {"days": {"all": []}}}, "when.days.all", "at least one"),
    ],
)
def test_invalid_filter_definitions_name_the_field(data, field, message):
    assert message in problems_of(filter_validate, "f", data)[field]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "command", "must be a string"),
        ({"command": "x", "timeout": "slow"}, "timeout", "must be numeric"),
        ({"command": "x", "timeout": -1}, "timeout", "greater than 0"),
    ],
)
def test_invalid_mutator_definitions_name_the_field(data, field, message):
    assert message in problems_of(mutator_validate, "m", data)[field]


@needs_expressions
def test_filter_eval_values_must_compile_in_the_safe_expression_language():
    filter_validate("deep", {"attributes": {"occurrences": "eval: value > 2 and value < 10"}})
    problems = problems_of(
        filter_validate, "ruby", {"attributes": {"check": {"output": "eval: `rm -rf /`"}}}
    )
    assert problems["attributes.check.output"].startswith("eval expression is invalid: ")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("9:00 AM", time(9, 0, 0)),
        ("12:00 AM", time(0, 0, 0)),
        ("5:30 PM", time(17, 30, 0)),
        ("17:30", time(17, 30, 0)),
        ("23:59:59", time(23, 59, 59)),
        ("5PM", time(17, 0, 0)),
        ("13:00 PM", None),
        ("24:00", None),
        ("noon", None),
        (900, None),
    ],
)
def test_time_window_times_read_as_ruby_time_parse_reads_them(text, parsed):
    assert clock_parse(text) == parsed


# --- The round trip: JSON -> model -> as_sensu --------------------------------------------

ROUND_TRIPS = [
    (
        "handlers",
        {
            "type": "pipe",
            "command": "/usr/local/bin/pagerduty.rb",
            "severities": ["critical", "unknown"],
            "filters": ["occurrences", "production"],
            "mutator": "only_check_output",
            "timeout": 10,
            "handle_flapping": True,
            "handle_silenced": True,
            "pagerduty_key_name": "ops",
        },
    ),
    ("handlers", {"type": "tcp", "socket": {"host": "graphite", "port": 2003}}),
    ("handlers", {"type": "transport", "pipe": {"type": "topic", "name": "events"}}),
    ("handlers", {"type": "set", "handlers": ["mail", "pagerduty"]}),
    (
        "handlers",
        {"type": "http", "http": {"url": "https://h.example/x", "headers": {}, "retries": 2}},
    ),
    (
        "filters",
        {
            "attributes": {"check": {"occurrences": "eval: value > 2"}},
            "negate": True,
            "when": {"days": {"all": [{"begin": "5:00 PM", "end": "8:00 AM"}]}},
        },
    ),
    ("mutators", {"command": "mutate.rb --tag prod", "timeout": 5}),
    (
        "checks",
        {
            "command": "check-disk-usage.rb -w 80",
            "subscribers": ["production"],
            "interval": 300,
            "handlers": ["default"],
            "ttl": 900,
            "type": "metric",
            "occurrences": 3,
            "refresh": 600,
            "contact": "ops",
        },
    ),
    # `handlers: []` means no handler at all (an empty Ruby array is true), kept as such.
    ("checks", {"command": "x", "subscribers": ["a"], "interval": 60, "handlers": []}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("category", "data"), ROUND_TRIPS)
def test_a_definition_reads_back_as_sensu_holds_it(category, data):
    saved = definition_save(category=category, name="one", data=data)
    assert saved.outcome == "created"
    saved.instance.refresh_from_db()
    assert saved.instance.as_sensu() == data


@pytest.mark.django_db
def test_the_single_filter_key_becomes_the_filters_list():
    # filter.rb event_filtered?: Array(handler[:filters] || handler[:filter])
    definition_save(
        category="handlers", name="h", data={"type": "pipe", "command": "x", "filter": "prod"}
    )
    assert Handler.objects.get(name="h").filters == ["prod"]


@pytest.mark.django_db
def test_saving_an_unchanged_definition_writes_and_audits_nothing():
    data = {"type": "pipe", "command": "mail ops", "severities": ["critical"]}
    definition_save(category="handlers", name="mail", data=data)
    updated_at = Handler.objects.get(name="mail").updated_at
    audits = AuditEvent.objects.count()
    assert definition_save(category="handlers", name="mail", data=data).outcome == "unchanged"
    assert AuditEvent.objects.count() == audits
    assert Handler.objects.get(name="mail").updated_at == updated_at
    changed = definition_save(category="handlers", name="mail", data={**data, "timeout": 3})
    assert changed.outcome == "updated"
    assert AuditEvent.objects.count() == audits + 1


@pytest.mark.django_db
def test_an_invalid_definition_is_not_saved():
    with pytest.raises(DefinitionInvalid, match=r"handler 'h' is invalid: socket.port: "):
        definition_save(
            category="handlers", name="h", data={"type": "tcp", "socket": {"host": "h"}}
        )
    assert not Handler.objects.exists()


@pytest.mark.django_db
def test_timeouts_are_rounded_up_to_whole_seconds():
    definition_save(category="mutators", name="m", data={"command": "x", "timeout": 2.1})
    assert Mutator.objects.get(name="m").timeout == 3


# --- /settings and /info ------------------------------------------------------------------


@pytest.fixture
def reader(token_client):
    return token_client("monitoring:read")


@pytest.mark.django_db
def test_settings_lists_handlers_filters_and_mutators_with_header_values_masked(reader):
    secret = "Bearer s3cr3t-webhook-token"
    definition_save(
        category="handlers",
        name="hook",
        data={
            "type": "http",
            "http": {"url": "https://hooks.example/x", "headers": {"Authorization": secret}},
            "api_key": "k-123",
        },
    )
    definition_save(category="filters", name="prod", data={"attributes": {"x": 1}})
    definition_save(category="mutators", name="tag", data={"command": "tag.rb"})
    digest_before = reader.get("/info").json()["sensu"]["settings"]["hexdigest"]
    response = reader.get("/settings")
    assert secret not in response.content.decode()
    settings = response.json()
    hook = settings["handlers"]["hook"]
    assert hook["http"]["headers"] == {"Authorization": "REDACTED"}
    assert hook["api_key"] == "REDACTED"  # Sensu's redact_sensitive keys too.
    assert settings["filters"] == {"prod": {"attributes": {"x": 1}, "negate": False}}
    assert settings["mutators"] == {"tag": {"command": "tag.rb"}}
    # /info's digest follows the definitions, as Sensu's follows its settings.
    definition_save(category="mutators", name="tag", data={"command": "tag.rb --v2"})
    assert reader.get("/info").json()["sensu"]["settings"]["hexdigest"] != digest_before


@pytest.mark.django_db
def test_the_stored_definition_keeps_the_header_value_the_api_masks():
    definition_save(
        category="handlers",
        name="hook",
        data={"type": "http", "http": {"url": "https://h.example/", "headers": {"X-Key": "v"}}},
    )
    assert Handler.objects.get(name="hook").http_headers == {"X-Key": "v"}
    assert Handler.objects.get(name="hook").as_sensu()["http"]["headers"] == {"X-Key": "v"}


@pytest.mark.django_db
def test_check_definitions_and_filters_are_audited_as_they_are_saved():
    definition_save(category="checks", name="disk", data=GOOD_CHECK)
    definition_save(category="filters", name="prod", data={"attributes": {}})
    assert CheckDefinition.objects.filter(name="disk").exists()
    assert Filter.objects.filter(name="prod").exists()
    names = set(AuditEvent.objects.values_list("target_type", "target_name"))
    assert {("CheckDefinition", "disk"), ("SensuFilter", "prod")} <= names


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_definition_created_meanwhile_by_another_save_is_updated_not_a_500(monkeypatch):
    from monitoring import definitions

    fill = definitions.mutator_fill
    raced = []

    def create_elsewhere():
        try:
            Mutator.objects.create(name="tag", command="old.rb")
        finally:
            connection.close()

    def fill_after_a_concurrent_create(mutator, data):
        if not raced:  # Another import commits the same name between the read and the insert.
            raced.append(1)
            other = threading.Thread(target=create_elsewhere)
            other.start()
            other.join()
        return fill(mutator, data)

    monkeypatch.setitem(
        definitions.KINDS,
        "mutators",
        definitions.DefinitionKind(
            "mutators", "mutator", Mutator, mutator_validate, fill_after_a_concurrent_create
        ),
    )
    saved = definition_save(category="mutators", name="tag", data={"command": "new.rb"})
    assert raced and saved.outcome == "updated"
    assert list(Mutator.objects.values_list("name", "command")) == [("tag", "new.rb")]
