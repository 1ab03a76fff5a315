"""
Results over the RabbitMQ transport: what sensu-client 1.9 publishes (client/process.rb
publish_check_result), consumed in batches as sensu/lib/sensu/server/process.rb setup_results
and process_check_result would, through the engine POST /results feeds.
"""

import json
import logging

import pytest

from monitoring.models import CheckResult, Client, Event, TransportReceipt
from monitoring.sensu import transport
from monitoring.sensu.tests.rabbitmq import Until, queue_depth
from monitoring.sensu.transport import RESULTS_QUEUE, results_consume, results_receive

pytestmark = pytest.mark.django_db(transaction=True)

NOW = 1_700_000_000


def check(name="disk", status=2, executed=NOW, **extra):
    return {
        "name": name,
        "command": "check-disk.rb",
        "issued": executed,
        "executed": executed,
        "duration": 0.012,
        "output": f"{name} status {status}",
        "status": status,
        **extra,
    }


def consume_until(condition) -> None:
    results_consume(Until(condition))


def history(client: str, name: str) -> list[int]:
    """The statuses of the check's history (entries are [status, executed, output])."""
    result = CheckResult.objects.filter(client__name=client, check_name=name).first()
    return [entry[0] for entry in result.history] if result else []


def test_results_become_events_through_the_engine(agents, vhost_url):
    agent = agents(name="web-1")
    for executed in (NOW, NOW + 10):
        agent.publish_check_result(check(executed=executed))
    consume_until(lambda: len(history("web-1", "disk")) == 2)
    event = Event.objects.get(client__name="web-1", check_name="disk")
    assert event.status == 2
    assert event.occurrences == 2
    assert event.check_data["executed"] == NOW + 10
    assert event.check_data["command"] == "check-disk.rb"
    assert event.check_data["duration"] == 0.012
    # retrieve_client: a client the registry does not know is created (not a proxy).
    assert Client.objects.get(name="web-1").keepalives is False
    assert queue_depth(vhost_url, RESULTS_QUEUE) == 0


def test_a_source_result_goes_to_a_proxy_client(agents):
    # process.rb retrieve_client: client_key = check[:source] || result[:client].
    agent = agents(name="poller")
    agent.publish_check_result(check(name="ping", status=0, source="switch-7"))
    consume_until(lambda: len(history("switch-7", "ping")) == 1)
    assert Client.objects.get(name="switch-7").type == "proxy"
    assert not Client.objects.filter(name="poller").exists()


def test_results_are_processed_in_batches_of_the_configured_size(agents, settings, monkeypatch):
    settings.SENSU_TRANSPORT_BATCH_SIZE = 10
    # A batch waits this long to fill: all 30 messages are queued before consuming starts,
    # so every batch fills to 10 long before.
    settings.SENSU_TRANSPORT_BATCH_MS = 60_000
    batches = []
    receive = transport.results_receive

    def recording(messages):
        batches.append(len(messages))
        return receive(messages)

    monkeypatch.setattr(transport, "results_receive", recording)
    agent = agents(name="web-1")
    for index in range(30):
        agent.publish_check_result(check(name=f"c{index % 3}", executed=NOW + index))
    consume_until(lambda: sum(batches) == 30)
    assert batches == [10, 10, 10]
    assert [len(history("web-1", f"c{n}")) for n in range(3)] == [10, 10, 10]
    assert TransportReceipt.objects.count() == 30


def test_results_for_one_check_keep_their_order_within_a_batch(agents):
    agent = agents(name="web-1")
    for index, status in enumerate((1, 2, 2, 0)):
        agent.publish_check_result(check(status=status, executed=NOW + index))
    consume_until(lambda: len(history("web-1", "disk")) == 4)
    assert history("web-1", "disk") == [1, 2, 2, 0]
    assert not Event.objects.exists()  # Resolved by the last.


def test_invalid_results_are_dropped_and_acked_without_blocking_the_rest(agents, caplog, vhost_url):
    agent = agents(name="web-1")
    agent.publish_raw("results", b"{not json")
    agent.publish_raw("results", b"[1, 2]")
    agent.publish_raw("results", json.dumps({"check": check()}).encode())  # No client.
    agent.publish_raw("results", json.dumps({"client": "web-1", "check": {"name": "x"}}).encode())
    agent.publish_raw(
        "results", json.dumps({"client": "web-1", "check": check(status=-1)}).encode()
    )
    agent.publish_raw("results", json.dumps({"client": "bad name", "check": check()}).encode())
    agent.publish_check_result(check(name="good"))
    with caplog.at_level(logging.ERROR, logger="monitoring.sensu.transport"):
        consume_until(lambda: len(history("web-1", "good")) == 1)
    assert list(CheckResult.objects.values_list("check_name", flat=True)) == ["good"]
    dropped = [r for r in caplog.records if "invalid result" in r.getMessage()]
    assert len(dropped) == 6
    assert queue_depth(vhost_url, RESULTS_QUEUE) == 0


def test_results_with_a_wrong_signature_are_dropped(agents, caplog):
    # process.rb retrieve_client: a client with a signature needs results carrying it.
    Client.objects.create(name="db-1", address="10.0.0.2", signature="s3cret")
    agent = agents(name="db-1", signature="forged")
    agent.publish_check_result(check(name="forged"))
    agent.client["signature"] = "s3cret"
    agent.publish_check_result(check(name="signed"))
    with caplog.at_level(logging.WARNING, logger="monitoring.services"):
        consume_until(lambda: len(history("db-1", "signed")) == 1)
    assert history("db-1", "forged") == []
    assert any("invalid client signature" in r.getMessage() for r in caplog.records)


def test_output_is_cut_as_post_results_cuts_it(agents, settings):
    settings.MONITORING_OUTPUT_MAX_CHARS = 5
    agent = agents(name="web-1")
    agent.publish_check_result(check(output="0123456789"))
    consume_until(lambda: len(history("web-1", "disk")) == 1)
    assert CheckResult.objects.get().output == "01234"


# --- Exactly once: redeliveries after a worker's death -----------------------------------


def body(**fields) -> bytes:
    return json.dumps({"client": "web-1", "check": check(**fields)}).encode()


def test_a_redelivered_message_already_processed_is_skipped(vhost_url):
    # The worker committed the batch and died before its ack: RabbitMQ delivers it again
    # with redelivered=True, and the receipt recorded in the batch's transaction says so.
    assert results_receive([(False, body(executed=NOW))]) == 1
    assert results_receive([(True, body(executed=NOW)), (True, body(executed=NOW + 1))]) == 1
    assert history("web-1", "disk") == [2, 2]
    assert Event.objects.get().occurrences == 2


def test_a_redelivered_message_never_processed_is_processed(vhost_url):
    # The worker died before its commit: no receipt, so the redelivery is processed.
    assert results_receive([(True, body(executed=NOW))]) == 1
    assert history("web-1", "disk") == [2]


def test_a_batch_that_fails_is_retried_one_by_one(vhost_url, monkeypatch, caplog):
    from monitoring import services

    process = services.results_process

    def failing_on_poison(items):
        if any(item.check["name"] == "poison" for item in items):
            raise ValueError("cannot process")
        return process(items)

    monkeypatch.setattr(services, "results_process", failing_on_poison)
    messages = [(False, body(name=name)) for name in ("a", "poison", "b")]
    with caplog.at_level(logging.ERROR, logger="monitoring.services"):
        assert results_receive(messages) == 2
    assert sorted(CheckResult.objects.values_list("check_name", flat=True)) == ["a", "b"]
    assert any("Dropping transport result" in r.getMessage() for r in caplog.records)


def test_old_receipts_are_purged(settings):
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.services import transport_receipts_purge

    settings.MONITORING_TRANSPORT_RECEIPT_HOURS = 24
    now = timezone.now()
    TransportReceipt.objects.create(digest="old", received_at=now - timedelta(hours=25))
    TransportReceipt.objects.create(digest="recent", received_at=now - timedelta(hours=23))
    assert transport_receipts_purge(batch_size=1) == 1
    assert list(TransportReceipt.objects.values_list("digest", flat=True)) == ["recent"]


def test_the_results_consumer_returns_at_once_without_a_transport(settings):
    settings.SENSU_TRANSPORT_URL = ""
    results_consume(Until(lambda: False))  # Returns: nothing to consume.


def test_the_app_registers_the_transport_when_configured(settings, vhost_url):
    from django.apps import apps

    from integration_site.registry import registry
    from monitoring import bus

    previous = bus._publisher
    try:
        # Through the app registry: the wire layer's tests must not import monitoring.apps
        # (an import cycle, apps -> sensu -> apps).
        apps.get_app_config("monitoring").transport_register()
        assert bus.transport_configured()
        assert isinstance(bus._publisher, transport.Publisher)
        assert results_consume in list(registry["worker_threads"])
    finally:
        bus.publisher_set(previous)
