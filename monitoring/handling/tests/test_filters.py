"""
Native and built-in filters: sensu/lib/sensu/server/filter.rb native_filter and event_filter,
sensu/lib/sensu/utilities.rb attributes_match? and in_time_windows?/in_time_window?,
sensu-extensions-occurrences lib/sensu/extensions/occurrences.rb event_filtered?, and
sensu-extensions-check-dependencies.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from monitoring.handling.filters import (
    FilterBook,
    attributes_match,
    event_filter_reason,
    in_time_window,
    in_time_windows,
    native_filter_filters,
    occurrences_filter_reason,
)
from monitoring.handling.tests.helpers import event_doc, open_event
from monitoring.models import Filter

UTC = ZoneInfo("UTC")
# A Wednesday.
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


# --- utilities.rb attributes_match? ---------------------------------------------------------


def test_attributes_match_nested_hashes():
    event = event_doc(environment="production")
    assert attributes_match(event, {"check": {"environment": "production"}})
    assert not attributes_match(event, {"check": {"environment": "staging"}})
    assert attributes_match(event, {"client": {"subscriptions": ["web"]}})


def test_attributes_match_compares_to_s_as_ruby():
    # `value_one.to_s == value_two.to_s`: "2" matches 2, and "" matches a missing attribute.
    event = event_doc(status=2)
    assert attributes_match(event, {"check": {"status": "2"}})
    assert attributes_match(event, {"check": {"missing": ""}})
    assert not attributes_match(event, {"check": {"missing": "x"}})


def test_attributes_match_eval_gets_the_attribute_value():
    event = event_doc(status=2)
    assert attributes_match(event, {"check": {"status": "eval: value >= 2"}})
    assert not attributes_match(event, {"check": {"status": "eval: value < 2"}})
    assert attributes_match(event, {"occurrences": "eval: value == 1"})


def test_attributes_match_bad_eval_does_not_match():
    # eval_attribute_value rescues SyntaxError and returns false.
    assert not attributes_match(event_doc(), {"check": {"status": "eval: `id`"}})


def test_a_hash_wanted_against_a_scalar_does_not_match():
    assert not attributes_match(event_doc(), {"check": {"output": {"x": 1}}})


# --- utilities.rb in_time_window? / in_time_windows? ------------------------------------------


def test_time_window_same_day():
    window = {"begin": "9:00 AM", "end": "5:00 PM"}
    assert in_time_window(window, NOON)
    assert not in_time_window(window, NOON.replace(hour=18))
    assert in_time_window({"begin": "12:00", "end": "12:00"}, NOON)


def test_time_window_crossing_midnight():
    window = {"begin": "5:00 PM", "end": "8:00 AM"}
    assert in_time_window(window, NOON.replace(hour=23))
    assert in_time_window(window, NOON.replace(hour=3))
    assert not in_time_window(window, NOON)


def test_time_window_needs_begin_and_end():
    assert not in_time_window({"begin": "9:00 AM"}, NOON)
    assert not in_time_window({"begin": "nine", "end": "5:00 PM"}, NOON)


def test_time_windows_all_days_then_today(settings):
    settings.TIME_ZONE = "UTC"
    assert in_time_windows({"days": {"all": [{"begin": "11:00 AM", "end": "1:00 PM"}]}}, NOON)
    assert in_time_windows({"days": {"wednesday": [{"begin": "11:00", "end": "13:00"}]}}, NOON)
    assert not in_time_windows({"days": {"monday": [{"begin": "11:00", "end": "13:00"}]}}, NOON)
    assert not in_time_windows({}, NOON)


# --- filter.rb native_filter ------------------------------------------------------------------


def test_native_filter_filters_when_the_attributes_do_not_match():
    production = Filter(name="production", attributes={"check": {"environment": "production"}})
    assert not native_filter_filters(production, event_doc(environment="production"))
    assert native_filter_filters(production, event_doc(environment="staging"))


def test_native_filter_negate_filters_when_they_match():
    # filtered = negate ? matched : !matched
    staging = Filter(
        name="no_staging", attributes={"check": {"environment": "staging"}}, negate=True
    )
    assert native_filter_filters(staging, event_doc(environment="staging"))
    assert not native_filter_filters(staging, event_doc(environment="production"))


def test_native_filter_outside_its_window_does_not_filter(settings):
    settings.TIME_ZONE = "UTC"
    nights = Filter(
        name="nights",
        attributes={"check": {"environment": "production"}},
        when={"days": {"all": [{"begin": "5:00 PM", "end": "8:00 AM"}]}},
    )
    staging = event_doc(environment="staging")
    assert not native_filter_filters(nights, staging, NOON)
    assert native_filter_filters(nights, staging, NOON.replace(hour=22))


# --- sensu-extensions-occurrences event_filtered? ---------------------------------------------


@pytest.mark.parametrize(
    ("check", "event", "filtered"),
    [
        ({"occurrences": 3}, {"occurrences": 2}, "not enough occurrences"),
        ({"occurrences": 3}, {"occurrences": 3}, ""),
        ({"occurrences": "3"}, {"occurrences": 2}, "not enough occurrences"),
        # refresh 1800 / interval 60 = every 30th after the threshold.
        ({"occurrences": 3, "interval": 60}, {"occurrences": 4}, "only handling every 30"),
        ({"occurrences": 3, "interval": 60}, {"occurrences": 33}, ""),
        ({"occurrences": 1, "refresh": 120, "interval": 60}, {"occurrences": 3}, ""),
        ({"occurrences": 1, "refresh": 120, "interval": 60}, {"occurrences": 2}, "every 2"),
        # A resolve passes once the watermark reached the threshold.
        ({"occurrences": 3}, {"occurrences": 1, "watermark": 3, "action": "resolve"}, ""),
        (
            {"occurrences": 3},
            {"occurrences": 1, "watermark": 2, "action": "resolve"},
            "not enough occurrences",
        ),
        ({}, {"occurrences": 1}, ""),
    ],
)
def test_occurrences_filter(check, event, filtered):
    reason = occurrences_filter_reason(event_doc(**event, check_attributes=check))
    assert (filtered in reason) if filtered else reason == ""
    assert bool(reason) is bool(filtered)


# --- event_filter: rows, built-ins, unknown names ----------------------------------------------


@pytest.mark.django_db
def test_check_dependencies_filters_while_a_dependency_has_an_event():
    open_event(client="i-424242", check="network")
    open_event(client="router", check="uplink")
    book = FilterBook({})
    same_client = event_doc(dependencies=["network"])
    assert "i-424242/network has an event" in event_filter_reason(
        "check_dependencies", same_client, book
    )
    other_client = event_doc(dependencies=["router/uplink"])
    assert "router/uplink" in event_filter_reason("check_dependencies", other_client, book)
    assert event_filter_reason("check_dependencies", event_doc(dependencies=["dns"]), book) == ""
    assert event_filter_reason("check_dependencies", event_doc(), book) == ""


@pytest.mark.django_db
def test_a_filter_row_takes_precedence_over_a_builtin_of_its_name():
    Filter.objects.create(name="occurrences", attributes={"check": {"status": 2}})
    book = FilterBook.load({"occurrences"})
    # The built-in would filter (2 < 5 occurrences); the row matches, so it does not.
    event = event_doc(occurrences=2, check_attributes={"occurrences": 5})
    assert event_filter_reason("occurrences", event, book) == ""
    assert "not enough" in event_filter_reason("occurrences", event, FilterBook({}))


def test_an_unknown_filter_does_not_filter(caplog):
    assert event_filter_reason("nope", event_doc(), FilterBook({})) == ""
    assert "unknown filter" in caplog.text
