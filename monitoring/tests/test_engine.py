"""The event engine, following Sensu's spec/server/process_spec.rb and the reference notes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audits.chain import audit_chain_verify
from audits.models import AuditEvent, AuditSource
from audits.services import COPY_MIN_EVENTS
from monitoring.engine import (
    RESOLVE_OUTPUT,
    ResultInput,
    UnknownEvent,
    check_flapping,
    event_resolve,
    result_process,
    results_process,
    total_state_change,
)
from monitoring.models import CheckDefinition, CheckResult, Client, Event, Silence
from monitoring.services import client_register, silence_create

pytestmark = pytest.mark.django_db

NOW = 1_700_000_000


def publish(status: int, *, client="i-424242", check="test", now=None, **extra):
    now = now or publish.clock
    publish.clock = now + 60
    return result_process(
        client_name=client,
        check={"name": check, "status": status, "output": f"status {status}", **extra},
        now=now,
    )


publish.clock = NOW


@pytest.fixture(autouse=True)
def _client():
    publish.clock = NOW
    client_register(data={"name": "i-424242", "address": "127.0.0.1", "subscriptions": ["test"]})


def event_of(check="test") -> Event | None:
    return Event.objects.filter(client__name="i-424242", check_name=check).first()


def test_ok_result_without_event_stores_result_but_no_event():
    outcome = publish(0)
    assert outcome.registry == ""
    assert event_of() is None
    result = CheckResult.objects.get(check_name="test")
    assert result.last_ok == NOW
    assert result.history == [[0, NOW, "status 0"]]


def test_event_lifecycle_counts_occurrences_across_status_changes():
    publish(0)
    publish(1)
    event = event_of()
    first_id = event.uuid
    assert (event.occurrences, event.occurrences_watermark, event.action) == (1, 1, "create")
    assert event.last_ok == NOW
    assert event.last_state_change == NOW + 60
    assert event.check_data["history"] == ["0", "1"]

    publish(1)
    event = event_of()
    assert (event.occurrences, event.occurrences_watermark) == (2, 2)
    assert event.uuid == first_id, "the event id persists across occurrences"

    publish(2)  # WARNING -> CRITICAL resets occurrences but keeps the watermark.
    event = event_of()
    assert (event.status, event.occurrences, event.occurrences_watermark) == (2, 1, 2)
    assert event.last_state_change == NOW + 180
    assert event.uuid == first_id

    publish(2)
    publish(2)
    event = event_of()
    assert (event.occurrences, event.occurrences_watermark) == (3, 3)

    outcome = publish(0)
    assert outcome.registry == "deleted"
    assert outcome.event["action"] == "resolve"
    assert outcome.event["id"] == str(first_id)
    assert event_of() is None


def test_state_changes_are_audited_as_system_events_beyond_the_history():
    publish(1)
    publish(1)  # A repeat occurrence is not a state change.
    publish(2)
    publish(0)
    audits = AuditEvent.objects.filter(target_type="SensuEvent").order_by("seq")
    assert [a.action for a in audits] == ["create", "create", "resolve"]
    assert {a.source for a in audits} == {AuditSource.SYSTEM}
    assert audits[0].target_name == "i-424242/test"
    assert audits[1].audited_changes["status"] == 2


def test_a_batch_of_state_changes_is_audited_in_order_and_the_chain_verifies():
    # Enough state changes in one batch to go through the COPY path on PostgreSQL
    # (audits.services.COPY_MIN_EVENTS), with text that COPY must escape.
    items = [
        ResultInput(
            client_name=f"batch-{i:02d}",
            check={"name": "disk", "status": 2, "output": f"line one\n\tline two\\ {i}"},
            now=NOW,
        )
        for i in range(COPY_MIN_EVENTS + 5)
    ]
    results_process(items)
    audits = list(AuditEvent.objects.filter(target_type="SensuEvent").order_by("seq"))
    assert [a.target_name for a in audits] == [f"batch-{i:02d}/disk" for i in range(len(items))]
    assert audits[3].audited_changes["output"] == "line one\n\tline two\\ 3"
    assert audits[3].description.endswith("line one\n\tline two\\ 3")
    assert [a.seq for a in audits] == list(range(audits[0].seq, audits[0].seq + len(items)))
    verdict = audit_chain_verify()
    assert verdict.ok, verdict.as_dict()


def test_history_keeps_21_entries_with_executed_and_output():
    for i in range(25):
        publish(i % 2 and 0, now=NOW + i)
    result = CheckResult.objects.get(check_name="test")
    assert len(result.history) == 21
    assert result.history[-1] == [0, NOW + 24, "status 0"]
    assert result.history[0][1] == NOW + 4


def test_total_state_change_uses_sensu_weights():
    assert total_state_change([0] * 20) == 0  # Fewer than 21 entries: not computed.
    assert total_state_change([0] * 21) == 0
    assert total_state_change([0, 1] * 10 + [0]) == 101
    # One change at the newest entry weighs 1.2: int(1.2 / 20 * 100) == 6.
    assert total_state_change([0] * 20 + [1]) == 6


def test_flap_thresholds_need_both_integers():
    check = {"total_state_change": 50, "low_flap_threshold": 10}
    assert check_flapping(stored_action=None, check=check) is False
    check["high_flap_threshold"] = "30"
    assert check_flapping(stored_action=None, check=check) is False
    check["high_flap_threshold"] = 30
    assert check_flapping(stored_action=None, check=check) is True
    check["total_state_change"] = 10
    assert check_flapping(stored_action="flapping", check=check) is False
    check["total_state_change"] = 11
    assert check_flapping(stored_action="flapping", check=check) is True
    assert check_flapping(stored_action="create", check=check) is False


def test_flapping_in_and_out_of_thresholds():
    CheckDefinition.objects.create(name="test", low_flap_threshold=5, high_flap_threshold=20)
    for status in [0, 1] * 10:
        publish(status)
    assert event_of().action == "create"  # 20 entries: flap detection not active yet.
    publish(0)  # 21st entry, status 0: flapping keeps the event despite the OK status.
    event = event_of()
    assert event.action == "flapping"
    assert event.status == 0
    assert AuditEvent.objects.filter(target_type="SensuEvent", action="flapping").exists()
    # Steady CRITICAL results push the changes out of the window.
    for _ in range(20):
        publish(2)
        if event_of().action == "create":
            break
    event = event_of()
    assert event.action == "create"
    assert event.check_data["total_state_change"] <= 5
    publish(0)
    assert event_of() is None


def test_an_event_opened_flapping_is_audited_as_flapping():
    CheckDefinition.objects.create(name="test", low_flap_threshold=5, high_flap_threshold=20)
    for status in [1, 0] * 10:
        publish(status)
    assert event_of() is None  # the last OK resolved it
    publish(1)  # 21 entries: flap detection active, and no event stored
    assert event_of().action == "flapping"
    opened = AuditEvent.objects.filter(target_type="SensuEvent").order_by("-seq").first()
    assert (opened.action, opened.crud) == ("flapping", "c")


def test_auto_resolve_false_keeps_event_until_api_resolve_forces_it():
    CheckDefinition.objects.create(name="test", auto_resolve=False)
    publish(2)
    outcome = publish(0)
    assert outcome.registry == ""
    event = event_of()
    assert event is not None and event.status == 2, "the stale event stays"
    event_resolve(client_name="i-424242", check_name="test")
    assert event_of() is None
    result = CheckResult.objects.get(check_name="test")
    assert result.output == RESOLVE_OUTPUT
    assert result.check_data["force_resolve"] is True
    assert result.history[-1][0] == 0


def test_api_resolve_of_a_flapping_event_deletes_it():
    CheckDefinition.objects.create(name="test", low_flap_threshold=5, high_flap_threshold=20)
    for status in [0, 1] * 10 + [0]:
        publish(status)
    assert event_of().action == "flapping"
    event_resolve(client_name="i-424242", check_name="test")
    assert event_of() is None


def test_resolving_unknown_event_raises():
    with pytest.raises(UnknownEvent):
        event_resolve(client_name="i-424242", check_name="nope")


def test_metric_checks_are_handled_not_stored():
    outcome = publish(0, type="metric", output="cpu.user 12 1700000000\ncpu.sys 3 1700000000")
    assert outcome.registry == "handled"
    assert event_of() is None
    result = CheckResult.objects.get(check_name="test")
    assert result.output == "cpu.user 12 1700000000"


def test_definition_is_merged_into_the_result():
    CheckDefinition.objects.create(
        name="test", command="check-test.rb", subscribers=["test"], interval=30
    )
    publish(1)
    check = event_of().check_data
    assert check["command"] == "check-test.rb"
    assert check["interval"] == 30
    assert check["output"] == "status 1"
    assert check["type"] == "standard"


def test_unknown_source_becomes_a_proxy_client():
    result_process(
        client_name="sensu-api",
        check={"name": "ping", "status": 2, "output": "down", "source": "switch-1"},
        now=NOW,
    )
    proxy = Client.objects.get(name="switch-1")
    assert proxy.type == "proxy"
    assert proxy.subscriptions == ["client:switch-1"]
    assert proxy.keepalives is False
    event = Event.objects.get(client=proxy)
    assert event.check_data["origin"] == "sensu-api"


def test_silenced_by_client_subscription_and_expire_on_resolve():
    silence_create(subscription="client:i-424242", check="test", expire_on_resolve=True)
    publish(2)
    event = event_of()
    assert event.silenced is True
    assert event.silenced_by == ["client:i-424242:test"]
    publish(0)
    assert not Silence.objects.filter(silence_id="client:i-424242:test").exists()
    assert AuditEvent.objects.filter(target_type="Silence", action="destroy").exists()


def test_resolve_deletes_expire_on_resolve_entries_not_begun_and_is_not_silenced_by_them():
    # Sensu's event_silenced?: on a resolve an expire_on_resolve entry is deleted whatever its
    # begin, and only the entries that remain (and have begun) silence the resolve.
    later = int((timezone.now() + timedelta(hours=1)).timestamp())
    silence_create(subscription="client:i-424242", check="test", expire_on_resolve=True)
    silence_create(subscription="test", check="test", begin=later, expire_on_resolve=True)
    silence_create(subscription=None, check="test")  # stays, and silences the resolve
    publish(2)
    assert event_of().silenced_by == ["*:test", "client:i-424242:test"]
    outcome = publish(0)
    assert outcome.event["action"] == "resolve"
    assert outcome.event["silenced_by"] == ["*:test"]
    assert sorted(Silence.objects.values_list("silence_id", flat=True)) == ["*:test"]
    resolve = AuditEvent.objects.get(target_type="SensuEvent", action="resolve")
    assert resolve.audited_changes["silenced"] is True


def test_silence_without_expire_on_resolve_survives_resolve():
    silence_create(subscription="test", check=None)
    publish(2)
    assert event_of().silenced_by == ["test:*"]
    publish(0)
    assert Silence.objects.filter(silence_id="test:*").exists()


def test_silence_by_check_for_all_clients():
    silence_create(subscription=None, check="test")
    publish(1)
    assert event_of().silenced_by == ["*:test"]


def test_silence_with_future_begin_or_past_expiry_does_not_match():
    later = int((timezone.now() + timedelta(hours=1)).timestamp())
    silence_create(subscription="test", check="test", begin=later)
    silence = silence_create(subscription=None, check="test")
    Silence.objects.filter(pk=silence.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    publish(2)
    assert event_of().silenced is False


def _state(prefix: str) -> tuple:
    """Results and events of clients named prefix*, without the per-run ids."""
    results = sorted(
        (r.client.name[len(prefix) :], r.check_name, r.status, r.history, r.last_ok)
        for r in CheckResult.objects.filter(client__name__startswith=prefix)
    )
    events = sorted(
        (
            e.client.name[len(prefix) :],
            e.check_name,
            e.status,
            e.action,
            e.occurrences,
            e.occurrences_watermark,
            e.last_ok,
            e.last_state_change,
            e.check_data["history"],
            e.check_data["total_state_change"],
            e.silenced,
        )
        for e in Event.objects.filter(client__name__startswith=prefix)
    )
    return results, events


def test_a_batch_gives_exactly_the_state_of_results_processed_one_by_one():
    import random

    from monitoring.engine import ResultInput, results_process

    CheckDefinition.objects.create(name="flappy", low_flap_threshold=10, high_flap_threshold=20)
    CheckDefinition.objects.create(name="sticky", auto_resolve=False)
    rng = random.Random(6)
    stream = [
        (
            f"h{rng.randrange(3)}",
            rng.choice(["flappy", "sticky", "plain"]),
            rng.choice([0, 0, 1, 2]),
        )
        for _ in range(400)
    ]
    for prefix in ("one-", "batch-"):
        for host in ("h0", "h1", "h2"):
            client_register(data={"name": prefix + host, "subscriptions": ["test"]})
    silence_create(subscription=None, check="sticky", expire_on_resolve=False)
    audits_before = AuditEvent.objects.filter(target_type="SensuEvent").count()
    for i, (host, check, status) in enumerate(stream):
        result_process(
            client_name="one-" + host,
            check={"name": check, "status": status, "output": str(status)},
            now=NOW + i,
        )
    audits_one = AuditEvent.objects.filter(target_type="SensuEvent").count() - audits_before
    for start in range(0, len(stream), 97):  # Odd batch sizes: pairs repeat within a batch.
        results_process(
            [
                ResultInput(
                    client_name="batch-" + host,
                    check={"name": check, "status": status, "output": str(status)},
                    now=NOW + start + j,
                )
                for j, (host, check, status) in enumerate(stream[start : start + 97])
            ]
        )
    audits_batch = (
        AuditEvent.objects.filter(target_type="SensuEvent").count() - audits_before - audits_one
    )
    assert _state("batch-") == _state("one-")
    assert audits_batch == audits_one > 0
    # The stream goes through flapping too, not only create/resolve.
    assert AuditEvent.objects.filter(target_type="SensuEvent", action="flapping").exists()


def test_the_drain_processes_good_results_when_one_in_the_batch_fails(monkeypatch):
    from monitoring import engine
    from monitoring.models import AcceptedResult

    for status in (2, 2):
        engine.result_accept(
            client_name="i-424242", check={"name": "a", "status": status, "output": "x"}, now=NOW
        )
    engine.result_accept(client_name="i-424242", check={"name": "boom", "output": "x"}, now=NOW)
    original = engine._merge_definition

    def failing(check, **kwargs):
        if check["name"] == "boom":
            raise ValueError("cannot merge")
        return original(check, **kwargs)

    monkeypatch.setattr(engine, "_merge_definition", failing)
    assert engine.accepted_results_drain(batch_size=10) == 3
    assert not AcceptedResult.objects.exists()
    assert event_of("a").occurrences == 2
    assert not CheckResult.objects.filter(check_name="boom").exists()


def test_the_drain_works_in_batches_oldest_first():
    from monitoring import engine

    for i, status in enumerate((1, 1, 0, 2, 2)):
        engine.result_accept(
            client_name="i-424242",
            check={"name": "seq", "status": status, "output": str(i)},
            now=NOW,
        )
    assert engine.accepted_results_drain(batch_size=2) == 5
    result = CheckResult.objects.get(check_name="seq")
    assert [entry[0] for entry in result.history] == [1, 1, 0, 2, 2]
    assert event_of("seq").occurrences == 2


def test_batched_writes_store_values_exactly():
    # On PostgreSQL a batch's rows travel as one jsonb document (monitoring/bulk.py): quotes,
    # backslashes, newlines, non-ASCII text and nested JSON must come back unchanged.
    from monitoring.engine import ResultInput, results_process

    output = 'CRITICAL: "quoted" back\\slash\nsecond line \u00fc \U0001f680 \t {"json": [1]}'
    extra = {"contact": {"team": "ops", "tags": ["a", "b\u00e9"]}, "duration": 0.25}
    results_process(
        [
            ResultInput(
                client_name="i-424242",
                check={"name": "odd", "status": 2, "output": output, **extra},
                now=NOW,
            ),
            ResultInput(
                client_name="i-424242",
                check={"name": "odd", "status": 2, "output": output, **extra},
                now=NOW + 60,
            ),
        ]
    )
    result = CheckResult.objects.get(check_name="odd")
    assert result.output == output
    assert result.history == [[2, NOW, output], [2, NOW + 60, output]]
    assert result.check_data["contact"] == extra["contact"]
    assert result.check_data["duration"] == 0.25
    event = event_of("odd")
    assert (event.output, event.occurrences, event.status) == (output, 2, 2)
    assert event.check_data["output"] == output
    assert event.check_data["contact"] == extra["contact"]
    recently = timezone.now() - timedelta(minutes=1)
    assert recently < event.created_at <= timezone.now()
    assert recently < result.updated_at <= timezone.now()
    publish(0, check="odd")  # updated through the set-based UPDATE, then resolved
    assert event_of("odd") is None
    assert CheckResult.objects.get(check_name="odd").history[-1][0] == 0
