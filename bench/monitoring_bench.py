"""
Monitoring benchmark (issue 6, section 6), on PostgreSQL through gunicorn on loopback.

  1. Ingest: POST /results (queued, 202) with `manage.py worker` processes running the full
     event engine on the queue, drawing (client, check) pairs at random from a population of
     10,000 clients x 5 checks (90 % OK, 7 % warning, 3 % critical), for a fixed time box;
     reported end to end (accepted AND processed, until the queue is empty), compared with two
     bare-Django POST ceilings in the same run: parse and answer, and parse, one INSERT in
     autocommit and answer (the least an accept path that commits can cost). Each phase also reports the CPU it cost per
     request, split between gunicorn, the drain worker(s), PostgreSQL and this load generator:
     on a shared 2-core box that, not the request rate, says where the time goes.
  2. Reads: GET /events?limit=100 with 5,000 open events (p50/p95), the full GET /events
     list, and a bare-Django GET ceiling.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h6bench .venv/bin/python bench/monitoring_bench.py

The load comes from Debian's wrk (bench/results_load.lua) when it is installed, which costs
the shared cores a third of what this script's own Python generator does (`--generator
python`). Figures are noisy: the machine has 2 cores shared by gunicorn, PostgreSQL, the
load generator and whatever else runs. Read the ratios, not the absolute numbers.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.kit import (  # noqa: E402 (after the path that finds it)
    child_pids,
    gunicorn_start,
    migrated_django_setup,
    percentile,
    postgres_backend_pids,
    process_cpu_seconds,
    run_threads,
    site_environment,
    start_workers,
    stop_workers,
)

CLIENTS = 10_000
CHECKS = ["cpu", "disk", "memory", "http", "ntp"]


def env() -> dict[str, str]:
    return site_environment(
        database="h6bench",
        settings_module="bench.monitoring_bench_settings",
        DJANGO_MANIFEST_STATIC="0",
    )


def prepare() -> str:
    """Migrate, reset the monitoring tables, create the population and a token."""
    migrated_django_setup(env())
    from django.db import connection

    from monitoring.models import CheckDefinition, Client

    # TRUNCATE, not delete(): deleting 10,000 audited clients would audit each one.
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_ceiling")
        cursor.execute("CREATE TABLE bench_ceiling (id bigserial PRIMARY KEY, body text)")
        cursor.execute(
            "TRUNCATE monitoring_event, monitoring_checkresult, monitoring_aggregatemember, "
            "monitoring_client, monitoring_checkdefinition, monitoring_silence, "
            "monitoring_acceptedresult CASCADE"
        )
    now = int(time.time())
    Client.objects.bulk_create(
        Client(
            name=f"client-{i:05d}",
            address=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
            subscriptions=["linux", f"client:client-{i:05d}"],
            keepalives=False,
            timestamp=now,
        )
        for i in range(CLIENTS)
    )
    for name in CHECKS:
        CheckDefinition.objects.create(
            name=name,
            command=f"check-{name}.rb",
            subscribers=["linux"],
            interval=60,
            low_flap_threshold=20,
            high_flap_threshold=40,
        )
    steady_state_seed(now)
    from integration_site.services import api_token_create

    _, secret = api_token_create(
        name=f"bench-{now}", scopes=["monitoring:read", "monitoring:write"]
    )
    return secret


def status_draw(rng: random.Random) -> int:
    roll = rng.random()
    return 0 if roll < 0.90 else 1 if roll < 0.97 else 2


def steady_state_seed(now: int) -> None:
    """
    Every pair already has a full 21-entry history and the events its latest status implies,
    as after the population has run for a while: the ingest then measures the engine in
    steady state (full history rows rewritten, flap detection active) rather than the first
    results of new pairs.
    """
    from monitoring.engine import HISTORY_LENGTH, check_flapping, total_state_change
    from monitoring.models import CheckDefinition, CheckResult, Client, Event

    rng = random.Random(42)
    definitions = {d.name: d for d in CheckDefinition.objects.all()}
    results, events = [], []
    for client in Client.objects.order_by("pk"):
        for name in CHECKS:
            definition = definitions[name]
            statuses = [status_draw(rng) for _ in range(HISTORY_LENGTH)]
            executed = [now - 60 * (HISTORY_LENGTH - i) for i in range(HISTORY_LENGTH)]
            status = statuses[-1]
            output = f"status {status} at {executed[-1]}"
            check = {
                "name": name,
                "command": definition.command,
                "subscribers": definition.subscribers,
                "interval": definition.interval,
                "low_flap_threshold": definition.low_flap_threshold,
                "high_flap_threshold": definition.high_flap_threshold,
                "source": client.name,
                "status": status,
                "output": output,
                "issued": executed[-1],
                "executed": executed[-1],
            }
            oks = [t for s, t in zip(statuses, executed, strict=True) if s == 0]
            results.append(
                CheckResult(
                    client=client,
                    check_name=name,
                    check_data=check,
                    status=status,
                    output=output,
                    executed=executed[-1],
                    history=[
                        [s, t, f"status {s} at {t}"]
                        for s, t in zip(statuses, executed, strict=True)
                    ],
                    last_ok=oks[-1] if oks else None,
                )
            )
            event_check = {
                **check,
                "history": [str(s) for s in statuses],
                "total_state_change": total_state_change(statuses),
            }
            flapping = check_flapping(stored_action=None, check=event_check)
            if status != 0 or flapping:
                occurrences = 1  # the run of equal statuses at the end of the history
                while occurrences < len(statuses) and statuses[-1 - occurrences] == status:
                    occurrences += 1
                events.append(
                    Event(
                        client=client,
                        check_name=name,
                        status=status,
                        output=output,
                        check_data=event_check,
                        action=Event.Action.FLAPPING if flapping else Event.Action.CREATE,
                        occurrences=occurrences,
                        occurrences_watermark=occurrences,
                        last_ok=oks[-1] if oks else None,
                        last_state_change=executed[-occurrences],
                        timestamp=executed[-1],
                    )
                )
    CheckResult.objects.bulk_create(results, batch_size=2000)
    Event.objects.bulk_create(events, batch_size=2000)
    # Silences the engine matches at ingest and the reads recompute for every event shown:
    # twenty clients (an operator's maintenance list) and one check everywhere.
    from monitoring.services import silence_create

    for i in range(0, CLIENTS, CLIENTS // 20):
        silence_create(subscription=f"client:client-{i:05d}", check=None, reason="maintenance")
    silence_create(subscription=None, check="ntp", reason="known NTP drift")


class Server:
    def __init__(self, port: int, workers: int):
        self.port = port
        self.proc = gunicorn_start(environment=env(), port=port, workers=workers)
        for _ in range(100):
            try:
                self.request("GET", "/bench/ceiling")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def post(self, path: str, body: bytes, token: str | None = None) -> int:
        """
        One POST on a new connection, as a Sensu API client sends it; returns the status.
        Written on the socket: http.client's response parsing cost the load generator, which
        shares the 2 cores with the server, twice the CPU (0.44 against 0.22 ms a request).
        """
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n"
        )
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(head.encode() + b"\r\n" + body)
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
        response = b"".join(chunks)
        if not response.startswith(b"HTTP/1.1 "):
            raise OSError(f"not an HTTP response: {response[:80]!r}")
        return int(response[9:12])

    def request(self, method, path, body=None, token=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, response.getheader("X-Pagination"), data

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def queued() -> int:
    from monitoring.models import AcceptedResult

    return AcceptedResult.objects.count()


def result_body(rng: random.Random) -> bytes:
    status = status_draw(rng)
    return json.dumps(
        {
            "name": rng.choice(CHECKS),
            "source": f"client-{rng.randrange(CLIENTS):05d}",
            "status": status,
            "output": f"status {status} at {time.time():.0f}",
        }
    ).encode()


WRK = shutil.which("wrk")


def load(server, path, seconds, threads, token, generator="python"):
    """POST for `seconds` from `threads` clients; returns (answered 202, seconds, errors)."""
    if generator == "wrk":
        return wrk_load(server, path, seconds, threads, token)
    counts = [0] * threads
    errors = [0] * threads
    deadline = time.monotonic() + seconds

    def run(slot):
        rng = random.Random(slot)
        while time.monotonic() < deadline:
            if server.post(path, result_body(rng), token) == 202:
                counts[slot] += 1
            else:
                errors[slot] += 1

    elapsed = run_threads(run, threads)
    return sum(counts), elapsed, sum(errors)


def wrk_load(server, path, seconds, connections, token):
    """
    The same load from wrk (Debian's `wrk`, C, one thread, `connections` at a time, a new
    TCP connection per request since gunicorn's sync workers close after each response):
    Python's generator costs the 2 shared cores ~0.2 ms a request, wrk a fraction of it.
    Bodies come from bench/results_load.lua, drawn like `result_body`.
    """
    completed = subprocess.run(
        [
            WRK,
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "30s",
            "-s",
            str(ROOT / "bench" / "results_load.lua"),
            f"http://127.0.0.1:{server.port}",
        ],
        env={
            **os.environ,
            "BENCH_PATH": path,
            "BENCH_TOKEN": token or "",
            "BENCH_CLIENTS": str(CLIENTS),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in completed.stdout.splitlines() if x.startswith("WRK_RESULT "))
    result = json.loads(line.removeprefix("WRK_RESULT "))
    errors = result["non_2xx_3xx"] + sum(result[k] for k in ("connect", "read", "write", "timeout"))
    return result["requests"] - result["non_2xx_3xx"], result["duration_us"] / 1e6, errors


def timed_gets(server, paths, token):
    times = []
    for path in paths:
        started = time.perf_counter()
        status, _, body = server.request("GET", path, token=token)
        times.append((time.perf_counter() - started) * 1000)
        assert status == 200, (path, status, body[:200])
    return times


def open_events(count: int) -> None:
    from monitoring.models import Client, Event

    Event.objects.all().delete()
    now = int(time.time())
    clients = list(Client.objects.order_by("name")[: count // len(CHECKS) + 1])
    rows = []
    for i in range(count):
        client = clients[i // len(CHECKS)]
        check = CHECKS[i % len(CHECKS)]
        status = 2 if i % 3 == 0 else 1
        rows.append(
            Event(
                client=client,
                check_name=check,
                status=status,
                output=f"{check.upper()} status {status}",
                check_data={
                    "name": check,
                    "command": f"check-{check}.rb",
                    "subscribers": ["linux"],
                    "interval": 60,
                    "issued": now,
                    "executed": now,
                    "status": status,
                    "output": f"{check.upper()} status {status}",
                    "duration": 0.01,
                    "type": "standard",
                    "history": ["0", str(status), str(status)],
                    "total_state_change": 0,
                },
                occurrences=2,
                occurrences_watermark=2,
                last_ok=now - 120,
                last_state_change=now - 60,
                timestamp=now,
            )
        )
    Event.objects.bulk_create(rows, batch_size=1000)


def postgres_backends() -> list[int]:
    """The PostgreSQL backends serving the benchmark database, other than this process's."""
    from django.db import connection

    with connection.cursor() as cursor:
        return postgres_backend_pids(cursor)


class CpuMeter:
    """
    CPU seconds spent by each part of the system between start() and stop(): the gunicorn
    workers, the drain workers, the PostgreSQL backends of the benchmark database, and this
    load generator. A backend that exits in between loses its share (the pools keep theirs).
    """

    def __init__(self, server: "Server", workers: list[subprocess.Popen]):
        self.groups = {
            "gunicorn": lambda: child_pids(server.proc.pid),
            "drain workers": lambda: [w.pid for w in workers],
            "PostgreSQL": postgres_backends,
        }

    def _snapshot(self) -> dict[str, dict[int, float]]:
        return {
            name: {pid: process_cpu_seconds(pid) for pid in pids()}
            for name, pids in self.groups.items()
        }

    def start(self) -> None:
        self.before = self._snapshot()
        self.own = os.times()

    def stop(self) -> dict[str, float]:
        after = self._snapshot()
        own = os.times()
        spent = {
            name: sum(cpu - self.before[name].get(pid, 0.0) for pid, cpu in pids.items())
            for name, pids in after.items()
        }
        # Waited children count too: wrk runs as one, and has exited by now.
        spent["load generator"] = sum(own[:4]) - sum(self.own[:4])
        return spent


def cpu_report(label: str, spent: dict[str, float], count: int) -> str:
    parts = ", ".join(f"{name} {1000 * s / count:.2f}" for name, s in spent.items() if s)
    total = 1000 * sum(spent.values()) / count
    return (
        f"cpu     {label}: {total:.2f} ms per request ({parts}); "
        f"{os.cpu_count()} cores at 100 % would sustain {1000 * os.cpu_count() / total:,.0f}/s"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ingest-seconds", type=float, default=30)
    parser.add_argument("--ceiling-seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--drain-workers",
        type=int,
        default=1,
        help="manage.py worker processes (one drains ~2,000 results/s; each more only polls)",
    )
    parser.add_argument(
        "--generator",
        choices=["wrk", "python"],
        default="wrk" if WRK else "python",
        help="load generator (default: wrk when installed: apt-get install wrk)",
    )
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--port", type=int, default=18606)
    args = parser.parse_args()

    token = prepare()
    server = Server(args.port, args.workers)
    try:
        print(
            f"machine: {os.cpu_count()} cores; gunicorn {args.workers} sync workers; "
            f"{args.threads} clients ({args.generator}); PostgreSQL {env()['DATABASE_URL'].rsplit('/', 1)[1]}"
        )
        meter = CpuMeter(server, [])
        meter.start()
        answered, seconds, _ = load(
            server, "/bench/ceiling", args.ceiling_seconds, args.threads, None, args.generator
        )
        ceiling_cpu = meter.stop()
        ceiling_post = answered / seconds
        meter = CpuMeter(server, [])
        meter.start()
        inserted, seconds, _ = load(
            server,
            "/bench/insert-ceiling",
            args.ceiling_seconds,
            args.threads,
            None,
            args.generator,
        )
        insert_cpu = meter.stop()
        ceiling_insert = inserted / seconds
        # End to end: results accepted by POST /results AND processed by the engine in the
        # worker(s), from the first POST until the queue is empty again.
        log = ROOT / "var" / "monitoring_bench_workers.log"
        workers = start_workers(args.drain_workers, environment=env(), log=log)
        try:
            meter = CpuMeter(server, workers)
            meter.start()
            started = time.monotonic()
            accepted, seconds, errors = load(
                server, "/results", args.ingest_seconds, args.threads, token, args.generator
            )
            backlog = queued()
            while queued():
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            ingest_cpu = meter.stop()
        finally:
            stop_workers(workers)
        from monitoring.models import CheckResult, Event

        # A result the engine cannot process is logged and dropped: it is not "processed".
        dropped = log.read_text().count("Dropping queued result")
        sustained = (accepted - dropped) / elapsed
        print(
            f"ingest  POST /results accepted (202):     {accepted / seconds:8.0f} results/s "
            f"({errors} errors; queue {backlog} deep when the posting stopped)"
        )
        print(
            f"ingest  accepted AND processed (engine): {sustained:8.0f} results/s sustained "
            f"({accepted} results in {elapsed:.1f} s, {dropped} dropped, "
            f"{args.drain_workers} worker(s); {CheckResult.objects.count()} results, "
            f"{Event.objects.count()} open events)"
        )
        print(
            f"ceiling POST bare Django:                {ceiling_post:8.0f} req/s  "
            f"-> end to end at {sustained / ceiling_post:.0%} of the ceiling"
        )
        print(
            f"ceiling POST bare Django + one INSERT:   {ceiling_insert:8.0f} req/s  "
            f"-> end to end at {sustained / ceiling_insert:.0%} of the INSERT ceiling"
        )
        print(cpu_report("ceiling POST", ceiling_cpu, answered))
        print(cpu_report("ceiling POST + INSERT", insert_cpu, inserted))
        print(cpu_report("POST /results, accepted and processed", ingest_cpu, accepted))

        open_events(5000)
        pages = [f"/events?limit=100&offset={100 * (i % 50)}" for i in range(args.reads)]
        timed_gets(server, pages[:10], token)  # warm every worker
        page_ms = timed_gets(server, pages, token)
        ceiling_ms = timed_gets(server, ["/bench/ceiling"] * args.reads, None)
        full_ms = timed_gets(server, ["/events"] * 5, token)
        _, header, _body = server.request("GET", "/events?limit=100", token=token)
        print(
            f"reads   GET /events?limit=100 (5,000 open): p50 {statistics.median(page_ms):6.1f} ms"
            f"  p95 {percentile(page_ms, 0.95):6.1f} ms   X-Pagination {header}"
        )
        print(
            f"ceiling GET bare Django:                 p50 {statistics.median(ceiling_ms):6.1f} ms"
            f"  p95 {percentile(ceiling_ms, 0.95):6.1f} ms  -> p95 ratio "
            f"{percentile(page_ms, 0.95) / percentile(ceiling_ms, 0.95):.1f}x"
        )
        print(
            f"full    GET /events (5,000 events):      mean {statistics.mean(full_ms):6.0f} ms"
            f"  max {max(full_ms):6.0f} ms"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
