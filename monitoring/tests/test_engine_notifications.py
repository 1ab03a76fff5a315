"""
The engine's hand-off to the handlers: which outcomes become Notification rows (Sensu's
process.rb `update_event_registry` then `process_event`) and how handler names are derived
(`process_event`, `derive_handlers`, `expand_handler_sets`).
"""

import pytest

from monitoring.engine import ResultInput, handler_names, handler_names_expand, results_process
from monitoring.models import Handler, HandlerType, Notification
from monitoring.services import client_register

pytestmark = pytest.mark.django_db

NOW = 1_700_000_000


@pytest.fixture(autouse=True)
def _client():
    client_register(data={"name": "web-1", "address": "127.0.0.1", "subscriptions": ["web"]})


def publish(status: int, *, now: int, check: str = "disk", **extra) -> None:
    results_process(
        [
            ResultInput(
                client_name="web-1",
                check={"name": check, "status": status, "output": f"s{status}", **extra},
                now=now,
            )
        ]
    )


# process.rb process_event: Array((check[:handlers] || check[:handler]) || "default")
@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ({}, ["default"]),
        ({"handler": "mail"}, ["mail"]),
        ({"handlers": ["a", "b"], "handler": "mail"}, ["a", "b"]),
        ({"handlers": []}, []),  # An empty Array is true in Ruby: no handler at all.
        ({"handlers": "pager"}, ["pager"]),  # Array("pager")
        ({"handler": None}, ["default"]),
    ],
)
def test_handler_names_follow_process_event(check, expected):
    assert handler_names(check) == expected


# process.rb derive_handlers / expand_handler_sets: sets expand while depth < 2, duplicates go.
def test_sets_expand_two_levels_and_unknown_names_are_dropped():
    handlers = {
        "mail": None,
        "pager": None,
        "ops": ["mail", "nested"],
        "nested": ["pager", "too-deep"],
        "too-deep": ["mail"],
        "empty": [],
    }
    assert handler_names_expand({"handlers": ["ops"]}, handlers) == ["mail", "pager"]
    assert handler_names_expand({"handlers": ["nested"]}, handlers) == ["pager", "mail"]
    assert handler_names_expand({"handlers": ["too-deep", "mail"]}, handlers) == ["mail"]
    assert handler_names_expand({"handlers": ["empty", "nope"]}, handlers) == []


def test_no_handler_defined_writes_no_notification():
    publish(2, now=NOW)
    assert Notification.objects.count() == 0


def test_events_to_handle_are_queued_with_sensus_event_shape():
    Handler.objects.create(name="default", type=HandlerType.PIPE, command="cat")
    publish(2, now=NOW)
    publish(2, now=NOW + 60)
    publish(0, now=NOW + 120)  # resolve: deleted from the registry, still handled
    publish(0, now=NOW + 180)  # OK with no event: nothing to handle
    events = [n.event for n in Notification.objects.order_by("id")]
    assert [e["action"] for e in events] == ["create", "create", "resolve"]
    assert [e["occurrences"] for e in events] == [1, 2, 2]
    assert events[0]["id"] == events[2]["id"]  # the event id persists until resolved
    assert events[0]["client"]["name"] == "web-1"
    assert events[2]["check"]["history"] == ["2", "2", "0"]
    assert set(events[0]) >= {
        "id", "client", "check", "occurrences", "occurrences_watermark", "action",
        "timestamp", "last_ok", "last_state_change", "silenced", "silenced_by",
    }  # fmt: skip


def test_metric_results_are_always_queued_and_unnamed_handlers_are_not():
    Handler.objects.create(name="graphite", type=HandlerType.TCP, socket_host="127.0.0.1")
    publish(0, now=NOW, check="load", type="metric", handlers=["graphite"])
    publish(2, now=NOW, check="disk", handlers=["missing"])
    events = [n.event for n in Notification.objects.all()]
    assert [(e["check"]["name"], e["action"]) for e in events] == [("load", "create")]


def test_client_secrets_never_reach_the_queued_event():
    Handler.objects.create(name="default", type=HandlerType.PIPE, command="cat")
    client_register(data={"name": "web-1", "address": "10.0.0.1", "password": "hunter2"})
    publish(2, now=NOW)
    assert "hunter2" not in str(Notification.objects.get().event)
