"""
Handler selection rules, in sensu/lib/sensu/server/filter.rb filter_event's order:
handling_disabled?, handle_action?, handle_severity?, handler_silenced?, event_filtered?;
plus sensu-plugin's filter_disabled (check.alert == false).
"""

import pytest

from monitoring.handling.filters import FilterBook
from monitoring.handling.selection import handler_filter_reason
from monitoring.handling.tests.helpers import event_doc
from monitoring.models import Filter, Handler

NO_FILTERS = FilterBook({})


def reason(handler: Handler, event: dict, book: FilterBook = NO_FILTERS) -> str:
    return handler_filter_reason(handler, event, book)


def test_a_plain_handler_handles_an_event():
    assert reason(Handler(name="mail"), event_doc()) == ""


def test_check_handle_false_disables_handling():
    # filter.rb handling_disabled?
    assert reason(Handler(name="mail"), event_doc(handle=False)) == (
        "event handling disabled for event"
    )
    assert reason(Handler(name="mail"), event_doc(handle=True)) == ""


def test_check_alert_false_disables_handling():
    # sensu-plugin lib/sensu-handler.rb filter_disabled
    assert "alert is false" in reason(Handler(name="mail"), event_doc(alert=False))


def test_flapping_events_need_handle_flapping():
    # filter.rb handle_action?
    flapping = event_doc(action="flapping")
    assert reason(Handler(name="mail"), flapping) == "handler does not handle action"
    assert reason(Handler(name="mail", handle_flapping=True), flapping) == ""


@pytest.mark.parametrize(
    ("status", "severities", "handled"),
    [
        (2, ["critical"], True),
        (1, ["critical"], False),
        (1, ["warning", "critical"], True),
        (3, ["unknown"], True),
        (7, ["unknown"], True),  # SEVERITIES[status] || "unknown"
        (0, ["ok"], True),
        (0, ["critical"], False),
        (1, [], True),  # No severities: every one.
    ],
)
def test_severities(status, severities, handled):
    # filter.rb handle_severity?
    result = reason(Handler(name="mail", severities=severities), event_doc(status=status))
    assert (result == "") is handled
    if not handled:
        assert result == "handler does not handle event severity"


def test_a_resolve_passes_when_any_history_status_is_a_listed_severity():
    # filter.rb handle_severity?, `when :resolve`: event[:check][:history].any?
    critical_only = Handler(name="pager", severities=["critical"])
    was_critical = event_doc(status=0, action="resolve", history=["0", "2", "2", "0"])
    was_warning = event_doc(status=0, action="resolve", history=["0", "1", "0"])
    assert reason(critical_only, was_critical) == ""
    assert reason(critical_only, was_warning) == "handler does not handle event severity"


def test_silenced_events_need_handle_silenced():
    # filter.rb handler_silenced?
    silenced = event_doc(silenced=True)
    assert reason(Handler(name="mail"), silenced) == "handler is silenced"
    assert reason(Handler(name="mail", handle_silenced=True), silenced) == ""


def test_rules_apply_in_sensus_order():
    everything_wrong = event_doc(action="flapping", status=1, silenced=True, handle=False)
    handler = Handler(name="mail", severities=["critical"])
    assert reason(handler, everything_wrong) == "event handling disabled for event"
    everything_wrong["check"]["handle"] = True
    assert reason(handler, everything_wrong) == "handler does not handle action"
    handler.handle_flapping = True
    assert reason(handler, everything_wrong) == "handler does not handle event severity"
    handler.severities = []
    assert reason(handler, everything_wrong) == "handler is silenced"


def test_filters_apply_in_order_and_the_first_that_filters_is_named():
    # filter.rb event_filtered?: each filter in turn, the first that filters stops it.
    book = FilterBook(
        {
            "production": Filter(name="production", attributes={"check": {"env": "production"}}),
            "critical": Filter(name="critical", attributes={"check": {"status": 2}}),
        }
    )
    handler = Handler(name="mail", filters=["production", "critical"])
    assert reason(handler, event_doc(status=2, env="production"), book) == ""
    assert reason(handler, event_doc(status=2, env="staging"), book) == "filtered by production"
    assert reason(handler, event_doc(status=1, env="production"), book) == "filtered by critical"


def test_a_single_filter_attribute_is_read_as_sensu_did():
    # event_filtered?: `handler[:filters] || handler[:filter]`
    handler = Handler(name="mail", attributes={"filter": "occurrences"})
    assert "not enough" in reason(handler, event_doc(check_attributes={"occurrences": 2}))
