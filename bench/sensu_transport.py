"""
Sensu transport benchmark (issue 16, section 3), on PostgreSQL and a real RabbitMQ.

Results published by the test agent (monitoring/sensu/tests/agent.py: exactly what
sensu-client 1.9 publishes) to the `results` exchange of a vhost of its own, processed end to
end by `manage.py worker` processes (the transport's consumer, batches through the engine, one
transaction per batch with its receipts, ack after commit), with 1 and then 2 workers. Two
ways:

  - live: the workers running, the results published and processed at once; the rate is
    results / (first publish -> the last result's receipt committed). The publisher shares
    the two cores with the workers, as agents on other hosts would not;
  - backlog drain: the results published first (the durable queue keeps them), then the
    workers started; the rate between 10 % and 90 % of the backlog processed.

Baselines measured in the same run:

  - RabbitMQ alone: the same messages published and consumed (prefetch, multiple acks) with
    no processing: what the broker and pika cost;
  - the engine alone: the same results through `monitoring.engine.results_process` in this
    process, in batches of SENSU_TRANSPORT_BATCH_SIZE, no transport.

Population: 2,000 clients x 5 checks (90 % OK, 7 % warning, 3 % critical); every pair has a
result before the timed phases (a warm-up round), so they measure the steady state.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_transport_bench \\
        .venv/bin/python -u bench/sensu_transport.py --results 20000

Figures are noisy: 2 shared cores run PostgreSQL, RabbitMQ, the workers and this publisher.
"""

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.kit import (  # noqa: E402 (after the path that finds it)
    migrated_django_setup,
    site_environment,
    start_workers,
    stop_workers,
)

CLIENTS = 2_000
CHECKS = ["cpu", "disk", "memory", "http", "ntp"]
VHOST = "wt_transport_bench"
BROKER = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"


def env() -> dict[str, str]:
    return site_environment(
        database="wt_transport_bench",
        settings_module="integration_site.settings",
        SENSU_TRANSPORT_URL=BROKER,
    )


def rabbitmqctl(*args: str, check: bool = True) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=check, capture_output=True)


def prepare() -> None:
    migrated_django_setup(env())
    from django.db import connection

    from monitoring.models import Client

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE monitoring_event, monitoring_checkresult, monitoring_aggregatemember, "
            "monitoring_client, monitoring_checkdefinition, monitoring_silence, "
            "monitoring_acceptedresult, monitoring_transportreceipt CASCADE"
        )
    now = int(time.time())
    Client.objects.bulk_create(
        Client(
            name=f"client-{i:05d}",
            address="10.0.0.1",
            subscriptions=["linux", f"client:client-{i:05d}"],
            timestamp=now,
        )
        for i in range(CLIENTS)
    )
    rabbitmqctl("delete_vhost", VHOST, check=False)
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")


def status_draw(rng: random.Random) -> int:
    roll = rng.random()
    return 0 if roll < 0.90 else 1 if roll < 0.97 else 2


def results(count: int, *, seed: int, pairs_in_order: bool = False) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    drawn = []
    for index in range(count):
        if pairs_in_order:
            client, check = divmod(index % (CLIENTS * len(CHECKS)), len(CHECKS))
        else:
            client, check = rng.randrange(CLIENTS), rng.randrange(len(CHECKS))
        status = status_draw(rng)
        executed = 1_700_000_000 + seed * 10_000_000 + index
        drawn.append(
            (
                f"client-{client:05d}",
                {
                    "name": CHECKS[check],
                    "command": f"check-{CHECKS[check]}.rb",
                    "issued": executed,
                    "executed": executed,
                    "duration": 0.01,
                    "output": f"{CHECKS[check]} status {status}",
                    "status": status,
                },
            )
        )
    return drawn


def publish(drawn: list[tuple[str, dict]]) -> float:
    """Publish as sensu-client does (one agent connection); returns the seconds it took."""
    from monitoring.sensu.tests.agent import SensuAgent

    agent = SensuAgent(BROKER, name="publisher")
    started = time.perf_counter()
    for client, check in drawn:
        agent.client["name"] = client
        agent.publish_check_result(check)
    agent.close()
    return time.perf_counter() - started


def receipts() -> int:
    from monitoring.models import TransportReceipt

    return TransportReceipt.objects.count()


def wait_for_receipts(expected: int, *, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while (done := receipts()) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {done} of {expected} results processed")
        time.sleep(0.05)
    return time.perf_counter()


def consumers_ready(count: int) -> None:
    from monitoring.sensu.transport import transport_info

    deadline = time.monotonic() + 60
    while (transport_info() or {}).get("results", {}).get("consumers") != count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{count} worker(s) never consumed the results queue")
        time.sleep(0.2)


def transport_phase(workers_count: int, drawn, log: Path) -> float:
    workers = start_workers(workers_count, environment=env(), log=log, log_mode="a")
    try:
        consumers_ready(workers_count)
        before = receipts()
        started = time.perf_counter()
        publish(drawn)
        finished = wait_for_receipts(before + len(drawn))
    finally:
        stop_workers(workers)
    return len(drawn) / (finished - started)


def backlog_phase(workers_count: int, drawn, log: Path) -> float:
    """
    The results published first (the durable queue holds them while no worker runs), then
    drained by the workers: the rate between 10 % and 90 % of the backlog, so neither the
    workers' start-up nor the publisher (agents run on other hosts) counts.
    """
    publish(drawn)
    before = receipts()
    low, high = before + len(drawn) // 10, before + len(drawn) * 9 // 10
    workers = start_workers(workers_count, environment=env(), log=log, log_mode="a")
    try:
        while (done := receipts()) < low:
            time.sleep(0.02)
        low_at, low_done = time.perf_counter(), done
        while (done := receipts()) < high:
            time.sleep(0.02)
        rate = (done - low_done) / (time.perf_counter() - low_at)
        wait_for_receipts(before + len(drawn))
    finally:
        stop_workers(workers)
    return rate


def rabbitmq_baseline(drawn) -> float:
    """The same messages through the broker with no processing: publish, then consume all."""
    import pika

    queue = "bench-baseline"
    connection = pika.BlockingConnection(pika.URLParameters(BROKER))
    channel = connection.channel()
    channel.exchange_declare("bench-baseline", "direct", durable=False, auto_delete=False)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, "bench-baseline", routing_key="")
    channel.basic_qos(prefetch_count=1000)
    bodies = [json.dumps({"client": c, "check": check}).encode() for c, check in drawn]
    started = time.perf_counter()
    for body in bodies:
        channel.basic_publish("bench-baseline", "", body)
    for taken, (method, _properties, _body) in enumerate(channel.consume(queue), start=1):
        if taken % 500 == 0 or taken == len(bodies):
            channel.basic_ack(method.delivery_tag, multiple=True)
        if taken == len(bodies):
            break
    elapsed = time.perf_counter() - started
    channel.cancel()
    connection.close()
    return len(bodies) / elapsed


def engine_baseline(drawn) -> float:
    """The same results through the engine in this process, no transport, no receipts."""
    from django.conf import settings

    from audits.context import audit_context
    from monitoring.engine import ResultInput, results_process

    size = settings.SENSU_TRANSPORT_BATCH_SIZE
    items = [ResultInput(client_name=c, check=check) for c, check in drawn]
    started = time.perf_counter()
    with audit_context():
        for start in range(0, len(items), size):
            results_process(items[start : start + size])
    return len(items) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=20_000, help="results per phase")
    args = parser.parse_args()
    prepare()
    log = ROOT / "var" / "bench_sensu_transport.log"
    print(f"{CLIENTS} clients x {len(CHECKS)} checks; {args.results} results per phase")

    warm = results(CLIENTS * len(CHECKS), seed=1, pairs_in_order=True)
    rate = transport_phase(2, warm, log)
    print(f"warm-up (first result of every pair, 2 workers): {rate:,.0f} results/s")

    figures = {
        "RabbitMQ alone (publish + consume, no processing)": rabbitmq_baseline(
            results(args.results, seed=2)
        ),
        "engine alone (results_process in process, no transport)": engine_baseline(
            results(args.results, seed=3)
        ),
        "transport live (publish while consuming), 1 worker": transport_phase(
            1, results(args.results, seed=4), log
        ),
        "transport live (publish while consuming), 2 workers": transport_phase(
            2, results(args.results, seed=5), log
        ),
        "transport backlog drain, 1 worker": backlog_phase(1, results(args.results, seed=6), log),
        "transport backlog drain, 2 workers": backlog_phase(2, results(args.results, seed=7), log),
    }
    engine = figures["engine alone (results_process in process, no transport)"]
    print(f"{'phase':<58} {'results/s':>10} {'ratio to engine alone':>22}")
    for label, value in figures.items():
        print(f"{label:<58} {value:>10,.0f} {value / engine:>22.2f}")
    rabbitmqctl("delete_vhost", VHOST, check=False)


if __name__ == "__main__":
    main()
