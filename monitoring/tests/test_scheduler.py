"""
The check request scheduler, after Sensu 1.9's lib/sensu/server/process.rb (check request
publisher) and lib/sensu/utilities.rb. Requests go to a real RabbitMQ and are consumed as a
sensu-client consumes them (monitoring/tests/rabbitmq.py).
"""

import hashlib
import logging
import struct
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse

from integration_site.registry import registry
from monitoring import scheduler
from monitoring.engine import result_process
from monitoring.handling.filters import in_time_window
from monitoring.models import CheckDefinition, CheckResult, CheckSchedule, Client, ClientType
from monitoring.scheduler import (
    CHECK_SCHEDULER_JOB,
    ScheduleState,
    check_request_due_ms,
    check_request_splay_ms,
    check_requests_schedule,
    check_requests_schedule_tick,
    check_schedule_state,
    check_scheduler_loop,
    check_subdued,
    object_tokens_substitute,
    transport_publish_options,
)
from monitoring.tests.rabbitmq import unique_subscription

pytestmark = pytest.mark.django_db

# A Tuesday, 14:30:00.250 UTC.
NOW = datetime(2026, 12, 8, 14, 30, 0, 250_000, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def sensu_splay_ms(name: str, interval: int, now_ms: int) -> int:
    """Sensu's formula, computed independently: Ruby's unpack('Q<') is struct's '<Q'."""
    (splay_hash,) = struct.unpack("<Q", hashlib.md5(name.encode("utf-8")).digest()[:8])
    return (splay_hash - now_ms) % (interval * 1000)


def define(name: str, subscribers: list[str], interval: int = 60, **attributes) -> CheckDefinition:
    standalone = attributes.pop("standalone", False)
    return CheckDefinition.objects.create(
        name=name,
        command=attributes.pop("command", f"check-{name}"),
        subscribers=subscribers,
        interval=interval,
        standalone=standalone,
        attributes=attributes,
    )


def first_fire_after(name: str, interval: int, now: datetime) -> datetime:
    """The instant of the check's first fire time after `now`: now plus Sensu's splay."""
    return now + timedelta(milliseconds=sensu_splay_ms(name, interval, int(now.timestamp() * 1000)))


# --- When ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["disk", "chef_client_process", "mysql-replication", "ünï"])
@pytest.mark.parametrize("interval", [10, 60, 3600])
def test_splay_is_sensus_formula(name, interval):
    # sensu/lib/sensu/server/process.rb calculate_check_request_splay
    assert check_request_splay_ms(name, interval, NOW_MS) == sensu_splay_ms(name, interval, NOW_MS)


def test_splay_of_a_known_name_is_the_value_sensu_computes():
    # Digest::MD5.digest("disk").unpack('Q<').first, written out byte by byte (the first
    # byte is the least significant), so a byte-order mistake shows.
    digest = hashlib.md5(b"disk").digest()
    splay_hash = sum(byte << (8 * i) for i, byte in enumerate(digest[:8]))
    assert check_request_splay_ms("disk", 60, NOW_MS) == (splay_hash - NOW_MS) % 60_000


def test_due_time_is_the_newest_fire_time_at_or_before_now():
    # Sensu fires at start + splay, then every interval: every fire time has the same phase.
    name, interval = "disk", 60
    due = check_request_due_ms(name, interval, NOW_MS)
    next_fire = NOW_MS + sensu_splay_ms(name, interval, NOW_MS)
    assert due <= NOW_MS < due + interval * 1000
    assert next_fire - due in (0, interval * 1000)
    # Whatever instant Sensu started at, its fire times are these.
    started = NOW_MS - 7_654_321
    first = started + sensu_splay_ms(name, interval, started)
    assert (due - first) % (interval * 1000) == 0
    # At a fire time exactly, that fire time is due; a millisecond before, the previous one.
    assert check_request_due_ms(name, interval, next_fire) == next_fire
    assert check_request_due_ms(name, interval, next_fire - 1) == next_fire - interval * 1000


def test_the_scheduler_runs_as_a_worker_thread_not_a_queued_task():
    # A queued task would wait behind a long results drain; a worker thread ticks on time.
    assert check_scheduler_loop in registry["worker_threads"]
    assert CHECK_SCHEDULER_JOB not in registry["periodic_jobs"]


# --- What is scheduled ------------------------------------------------------------------


def test_tick_publishes_each_fire_time_once_with_a_pinned_clock(transport, agent):
    # sensu/lib/sensu/server/process.rb schedule_check_interval_requests, publish_check_request
    subscription = unique_subscription()
    agent.subscribe(subscription)
    define("disk", [subscription], interval=60, occurrences=2)
    fire = first_fire_after("disk", 60, NOW)

    assert check_requests_schedule(now=fire) == 1
    [request] = agent.received(subscription)
    # The definition without subscribers and interval, plus name and issued.
    assert request == {
        "command": "check-disk",
        "occurrences": 2,
        "name": "disk",
        "issued": int(fire.timestamp()),
    }
    # The same fire time again, or any instant before the next: nothing.
    assert check_requests_schedule(now=fire) == 0
    assert check_requests_schedule(now=fire + timedelta(seconds=59.999)) == 0
    assert agent.received(subscription) == []
    # The next fire time.
    assert check_requests_schedule(now=fire + timedelta(seconds=60)) == 1
    assert len(agent.received(subscription)) == 1
    # A worker down for hours publishes once on its return, not a backlog.
    back = fire + timedelta(hours=5, seconds=30)
    assert check_requests_schedule(now=back) == 1
    [late] = agent.received(subscription)
    assert late["issued"] == int((fire + timedelta(hours=5)).timestamp())
    assert CheckSchedule.objects.get(check_name="disk").last_issued_ms == int(
        (fire + timedelta(hours=5)).timestamp() * 1000
    )


def test_tick_under_the_lease_publishes_and_a_second_tick_does_not(transport, agent):
    subscription = unique_subscription()
    agent.subscribe(subscription)
    define("disk", [subscription])
    assert check_requests_schedule_tick() == 1
    assert check_requests_schedule_tick() == 0
    assert len(agent.received(subscription)) == 1


def test_roundrobin_subscription_is_a_direct_exchange(transport, agent):
    # sensu/lib/sensu/server/process.rb transport_publish_options
    subscription = unique_subscription("roundrobin:")
    agent.subscribe(subscription)
    define("disk", [subscription])
    assert check_requests_schedule(now=NOW) == 1
    assert [(kind, name) for kind, name, _ in transport.published] == [("direct", subscription)]
    assert [r["name"] for r in agent.received(subscription)] == ["disk"]


def test_plain_subscriptions_are_fanout_exchanges_each_published(transport, agent):
    web, db = unique_subscription(), unique_subscription()
    agent.subscribe(web)
    agent.subscribe(db)
    define("disk", [web, db])
    assert check_requests_schedule(now=NOW) == 1
    assert sorted((kind, name) for kind, name, _ in transport.published) == sorted(
        [("fanout", web), ("fanout", db)]
    )
    assert len(agent.received(web)) == len(agent.received(db)) == 1


@pytest.mark.parametrize(
    "subscription, kind",
    [
        ("roundrobin:web", "direct"),
        ("direct:web", "direct"),
        ("client:i-1", "fanout"),
        ("web", "fanout"),
        ("fanout:web", "fanout"),
    ],
)
def test_transport_publish_options(subscription, kind):
    # sensu/lib/sensu/server/process.rb transport_publish_options
    assert transport_publish_options(subscription) == (kind, subscription)


def test_publish_false_standalone_and_subscriberless_checks_are_not_scheduled(transport, agent):
    # sensu/lib/sensu/server/process.rb setup_check_request_publisher
    subscription = unique_subscription()
    agent.subscribe(subscription)
    define("quiet", [subscription], publish=False)
    define("local", [subscription], standalone=True)
    define("nobody", [])
    assert check_requests_schedule(now=NOW) == 0
    assert agent.received(subscription) == []
    assert transport.published == []
    assert not CheckSchedule.objects.exists()
    states = {
        d.name: check_schedule_state(scheduler.check_definition_document(d))
        for d in CheckDefinition.objects.all()
    }
    assert states == {
        "quiet": ScheduleState.NOT_PUBLISHED,
        "local": ScheduleState.STANDALONE,
        "nobody": ScheduleState.NO_SUBSCRIBERS,
    }


# --- Subdue ----------------------------------------------------------------------------


def test_subdued_check_is_not_published_and_its_fire_time_is_spent(transport, agent):
    # sensu/lib/sensu/server/process.rb create_check_request_proc (check_subdued?)
    subscription = unique_subscription()
    agent.subscribe(subscription)
    subdue = {"days": {"all": [{"begin": "2:00 PM", "end": "3:00 PM"}]}}
    define("disk", [subscription], subdue=subdue)
    assert check_requests_schedule(now=NOW) == 0
    assert agent.received(subscription) == []
    # Out of the window (and past the next fire time): published.
    assert check_requests_schedule(now=NOW + timedelta(hours=1)) == 1
    assert len(agent.received(subscription)) == 1


def test_subdue_by_weekday():
    # sensu/lib/sensu/utilities.rb in_time_windows? (NOW is a Tuesday)
    tuesday = {"subdue": {"days": {"tuesday": [{"begin": "14:00", "end": "15:00"}]}}}
    monday = {"subdue": {"days": {"monday": [{"begin": "14:00", "end": "15:00"}]}}}
    assert check_subdued(tuesday, now=NOW)
    assert not check_subdued(monday, now=NOW)
    assert not check_subdued({}, now=NOW)


@pytest.mark.parametrize(
    "begin, end, hour, minute, inside",
    [
        ("9:00 AM", "5:00 PM", 12, 0, True),
        ("9:00 AM", "5:00 PM", 17, 1, False),
        # Crossing midnight: from the begin to midnight, and from midnight to the end.
        ("10:00 PM", "6:00 AM", 23, 0, True),
        ("10:00 PM", "6:00 AM", 3, 0, True),
        ("10:00 PM", "6:00 AM", 12, 0, False),
        ("23:00:00", "01:00:00", 0, 30, True),
    ],
)
def test_in_time_window(begin, end, hour, minute, inside):
    # sensu/lib/sensu/utilities.rb in_time_window?
    now = NOW.replace(hour=hour, minute=minute)
    assert in_time_window({"begin": begin, "end": end}, now) is inside


@pytest.mark.parametrize("condition", [{}, {"begin": "9:00"}, {"begin": "soon", "end": "9:00"}])
def test_a_window_without_both_times_never_holds(condition):
    assert not in_time_window(condition, NOW)


# --- Proxy requests --------------------------------------------------------------------


def test_token_substitution():
    # sensu/lib/sensu/utilities.rb substitute_tokens, object_substitute_tokens
    client = {"name": "router-1", "snmp": {"community": "public"}, "port": 161}
    check = {
        "command": "check-snmp -h :::name::: -C :::snmp.community::: -p :::port::: -t :::t|5:::",
        "args": [":::missing:::", {"deep": ":::snmp.version|2c:::"}],
        "interval": 60,
    }
    substituted, unmatched = object_tokens_substitute(check, client)
    assert substituted["command"] == "check-snmp -h router-1 -C public -p 161 -t 5"
    assert substituted["args"] == ["", {"deep": "2c"}]
    assert substituted["interval"] == 60
    assert unmatched == ["missing"]


def test_proxy_requests_substitute_tokens_and_skip_unmatched_clients(transport, agent, caplog):
    # sensu/lib/sensu/server/process.rb create_proxy_check_requests, publish_proxy_check_request
    subscription = unique_subscription("roundrobin:")
    agent.subscribe(subscription)
    for name, attributes in [
        ("site-a", {"environment": "prod", "url": "https://a.example"}),
        ("site-b", {"environment": "prod"}),  # no url: unmatched token
        ("site-c", {"environment": "staging", "url": "https://c.example"}),  # not matched
    ]:
        Client.objects.create(name=name, type=ClientType.PROXY, attributes=attributes)
    Client.objects.create(name="agent-1", attributes={"environment": "prod", "url": "x"})
    define(
        "http",
        [subscription],
        command="check-http -u :::url::: -t :::timeout|10:::",
        proxy_requests={"client_attributes": {"type": "proxy", "environment": "prod"}},
    )
    with caplog.at_level(logging.WARNING, logger="monitoring.scheduler"):
        assert check_requests_schedule(now=NOW) == 1
    [request] = agent.received(subscription)
    assert request["command"] == "check-http -u https://a.example -t 10"
    assert request["source"] == "site-a"
    assert request["name"] == "http"
    assert "unmatched client tokens ['url']" in caplog.text and "site-b" in caplog.text


def test_proxy_request_keeps_a_source_the_check_names(transport, agent):
    subscription = unique_subscription()
    agent.subscribe(subscription)
    Client.objects.create(name="db-1", attributes={"role": "db"})
    define(
        "replication",
        [subscription],
        source=":::name:::-replica",
        proxy_requests={"client_attributes": {"role": "db"}},
    )
    assert check_requests_schedule(now=NOW) == 1
    [request] = agent.received(subscription)
    assert request["source"] == "db-1-replica"


def test_proxy_client_attributes_match_as_sensu_compares_them():
    # sensu/lib/sensu/utilities.rb attributes_match?: nested hashes, to_s equality, eval
    client = {"name": "x", "port": 161, "tags": {"dc": "ams", "rack": 4}, "on": True}
    assert scheduler.attributes_match(client, {"port": "161", "tags": {"dc": "ams"}})
    assert scheduler.attributes_match(client, {"tags": {"rack": "4"}, "on": "true"})
    assert not scheduler.attributes_match(client, {"tags": {"dc": "fra"}})
    assert not scheduler.attributes_match(client, {"on": 1})
    assert scheduler.attributes_match(client, {"port": "eval: value > 100"})
    assert not scheduler.attributes_match(client, {"port": "eval: value > 1000"})


# --- Single fire -----------------------------------------------------------------------


def _ticks_in_parallel(tick) -> list[int]:
    """Run `tick` in two threads started together; their results."""
    start = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            counts.append(tick())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    return threads, counts, errors


def _joined(threads, counts, errors) -> list[int]:
    for thread in threads:
        thread.join()
    assert errors == []
    return sorted(counts)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_ticks_that_both_read_the_schedule_publish_a_fire_time_once(transport, agent):
    # Sensu elected one leader (process.rb request_master_election); here the conditional
    # UPDATE of CheckSchedule decides. The row is held while both ticks read it and queue
    # their UPDATEs behind the lock, so both have seen the fire time as unpublished: the
    # worst interleaving, made certain rather than left to chance.
    subscription = unique_subscription()
    agent.subscribe(subscription)
    define("disk", [subscription])
    CheckSchedule.objects.create(check_name="disk", last_issued_ms=0)
    with transaction.atomic():
        CheckSchedule.objects.select_for_update().get(check_name="disk")
        running = _ticks_in_parallel(lambda: check_requests_schedule(now=NOW))
        _wait_for_lock_waiters(2)
    assert _joined(*running) == [0, 1]
    assert len(agent.received(subscription)) == 1


def _wait_for_lock_waiters(count: int) -> None:
    """Until `count` other sessions of this database wait for a lock (a 30 s safety net)."""
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Statistics views are snapshotted once per transaction, and this one holds the row.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.01)
    raise AssertionError(f"{count} ticks never reached the schedule's UPDATE")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_ticks_under_the_lease_publish_once(transport, agent):
    subscription = unique_subscription()
    agent.subscribe(subscription)
    define("disk", [subscription])
    assert _joined(*_ticks_in_parallel(check_requests_schedule_tick)) == [0, 1]
    assert len(agent.received(subscription)) == 1


# --- Without a transport, and with the broker down ---------------------------------------


def test_without_a_transport_nothing_is_claimed_and_a_warning_names_the_setting(
    settings, no_publisher, caplog
):
    settings.SENSU_TRANSPORT_URL = ""
    scheduler._no_transport_warned_at = None
    define("disk", ["web"])
    with caplog.at_level(logging.WARNING, logger="monitoring.scheduler"):
        assert check_requests_schedule(now=NOW) == 0
        assert check_requests_schedule(now=NOW + timedelta(seconds=1)) == 0
    warnings = [r for r in caplog.records if "SENSU_TRANSPORT_URL" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited
    assert not CheckSchedule.objects.exists()


def test_system_check_warns_when_subscription_checks_exist_without_a_transport(settings):
    settings.SENSU_TRANSPORT_URL = ""
    define("local", ["web"], standalone=True)
    assert "monitoring.W001" not in _check_output()
    define("disk", ["web"])
    output = _check_output()
    assert "monitoring.W001" in output and "SENSU_TRANSPORT_URL" in output
    settings.SENSU_TRANSPORT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert "monitoring.W001" not in _check_output()


def _check_output() -> str:
    from io import StringIO

    err, out = StringIO(), StringIO()
    call_command("check", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_admin_check_list_says_why_a_check_is_not_scheduled(admin_client, settings):
    settings.SENSU_TRANSPORT_URL = ""
    define("disk", ["web"])
    define("local", ["web"], standalone=True)
    page = admin_client.get(reverse("admin:monitoring_checkdefinition_changelist")).content
    assert b"not scheduled: SENSU_TRANSPORT_URL is not set" in page
    assert b"standalone: the agent schedules it" in page
    settings.SENSU_TRANSPORT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
    page = admin_client.get(reverse("admin:monitoring_checkdefinition_changelist")).content
    assert b"scheduled every 60 s" in page


def test_broker_down_logs_and_retries_the_fire_time_next_tick(broker_down, settings, caplog):
    define("disk", [unique_subscription()])
    with caplog.at_level(logging.ERROR, logger="monitoring.scheduler"):
        assert check_requests_schedule(now=NOW) == 0
    assert "retrying next tick" in caplog.text
    # The claim was given back: the fire time is still unpublished.
    assert CheckSchedule.objects.get(check_name="disk").last_issued_ms == 0


def test_broker_back_publishes_the_fire_time_missed(broker_down, transport, agent):
    subscription = unique_subscription()
    agent.subscribe(subscription)
    define("disk", [subscription])
    from monitoring import bus

    bus.publisher_set(broker_down)
    assert check_requests_schedule(now=NOW) == 0
    bus.publisher_set(transport)
    assert check_requests_schedule(now=NOW) == 1
    assert len(agent.received(subscription)) == 1


# --- Standalone results ----------------------------------------------------------------


def test_standalone_results_merge_nothing_from_the_server_definition():
    # sensu/lib/sensu/server/process.rb process_check_result: a result whose check says
    # standalone is taken as it is; only others are merged over the server's definition.
    define("disk", ["web"], command="check-disk -w 80", handlers=["mail"], occurrences=3)
    result_process(
        client_name="i-1",
        check={"name": "disk", "status": 0, "output": "OK", "standalone": True},
    )
    stored = CheckResult.objects.get(client__name="i-1", check_name="disk").check_data
    assert "command" not in stored and "occurrences" not in stored
    result_process(client_name="i-2", check={"name": "disk", "status": 0, "output": "OK"})
    merged = CheckResult.objects.get(client__name="i-2", check_name="disk").check_data
    assert merged["command"] == "check-disk -w 80" and merged["occurrences"] == 3


def test_proxy_check_result_is_recorded_for_its_source_client():
    # sensu/lib/sensu/server/process.rb retrieve_client: `source` names the (proxy) client.
    result_process(
        client_name="agent-1",
        check={"name": "http", "status": 2, "output": "down", "source": "site-a"},
    )
    result = CheckResult.objects.get(check_name="http")
    assert result.client.name == "site-a"
    assert result.client.type == ClientType.PROXY
    assert result.check_data["origin"] == "agent-1"


def test_a_tick_reads_definitions_in_pages_and_requests_at_most_the_limit(
    transport, agent, monkeypatch, caplog
):
    monkeypatch.setattr(scheduler, "CHECK_PAGE_SIZE", 2)
    monkeypatch.setattr(scheduler, "SCHEDULED_CHECKS_MAX", 3)
    subscription = unique_subscription()
    agent.subscribe(subscription)
    for name in ("a", "b", "c", "d", "e"):
        define(name, [subscription])
    define("local", [subscription], standalone=True)
    with caplog.at_level(logging.WARNING, logger="monitoring.scheduler"):
        assert check_requests_schedule(now=NOW) == 3
    assert sorted(r["name"] for r in agent.received(subscription)) == ["a", "b", "c"]
    assert "More than 3 scheduled checks" in caplog.text


def test_proxy_requests_match_clients_with_eval_attributes(transport, agent):
    # sensu/lib/sensu/utilities.rb attributes_match? / eval_attribute_value: Sensu ran Ruby;
    # the site's expression language (monitoring/handling/expressions.py) stands in for it.
    subscription = unique_subscription()
    agent.subscribe(subscription)
    Client.objects.create(name="db-1", attributes={"role": "db", "port": 5432})
    Client.objects.create(name="db-2", attributes={"role": "db", "port": 80})
    define(
        "pg",
        [subscription],
        proxy_requests={"client_attributes": {"role": "db", "port": "eval: value > 1024"}},
    )
    check_requests_schedule(now=NOW)
    assert [r["source"] for r in agent.received(subscription)] == ["db-1"]


def test_proxy_client_result_keeps_the_definitions_command():
    # sensu/lib/sensu/server/process.rb process_check_result: for a proxy client the
    # command comes from the definition, so substituted token values stay out of the event.
    define("http", ["web"], command="check-http -u :::url::: -p :::password:::")
    result_process(
        client_name="agent-1",
        check={
            "name": "http",
            "status": 2,
            "output": "down",
            "source": "site-a",
            "command": "check-http -u https://a -p hunter2",
        },
    )
    stored = CheckResult.objects.get(client__name="site-a", check_name="http").check_data
    assert stored["command"] == "check-http -u :::url::: -p :::password:::"
    # A standard client's result keeps the command it ran.
    result_process(
        client_name="agent-1", check={"name": "http", "status": 0, "output": "", "command": "x"}
    )
    assert CheckResult.objects.get(client__name="agent-1").check_data["command"] == "x"
