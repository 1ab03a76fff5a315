"""
Handler benchmark (issue 16 §3), in process on PostgreSQL.

  1. The engine's added cost with NO handler configured: `results_process` throughput over
     batches of results (90 % OK, 7 % warning, 3 % critical over 2,000 pairs), with 0 Handler
     rows (today's code: one extra query per batch to learn that no handler exists), against
     the engine with its Notification path switched off (`_Batch.notify` a no-op: the engine
     as it was before handlers existed). The two alternate round by round in the same run,
     so drift on the shared machine hits both alike; the median round of each is compared.
  2. Dispatch rate: N critical events whose check names one handler, written by the engine
     as Notification rows, then `handling_dispatch_once` (selection, filters, HandlerRun rows,
     the thread pool of MONITORING_HANDLER_CONCURRENCY, the mutator, the handler, the
     finished run and its audit event) timed from the first notification taken to the last
     run finished; for a `pipe` handler (`cat`, reading the event on stdin) and an `http`
     handler posting to a receiver on loopback in this process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_handling .venv/bin/python \
        bench/monitoring_handlers.py [--rounds 5] [--events 300]

The machine's 2 cores are shared with PostgreSQL (and other work): read the ratios.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PAIRS_CLIENTS = 500
CHECKS = ["cpu", "disk", "memory", "ntp"]
BATCH = 500


def setup() -> None:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wt_handling")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()


def reset() -> None:
    from monitoring.models import (
        CheckResult,
        Client,
        Event,
        Handler,
        HandlerRun,
        Notification,
    )

    for model in (HandlerRun, Notification, Event, CheckResult, Handler, Client):
        model.objects.all().delete()


def results(count: int, rng: random.Random, *, handlers: list[str] | None = None) -> list:
    from monitoring.engine import ResultInput

    items = []
    for _ in range(count):
        roll = rng.random()
        status = 0 if roll < 0.90 else 1 if roll < 0.97 else 2
        check = {
            "name": rng.choice(CHECKS),
            "status": status,
            "output": f"status {status}",
        }
        if handlers:
            check["handlers"] = handlers
        items.append(ResultInput(client_name=f"bench-{rng.randrange(PAIRS_CLIENTS)}", check=check))
    return items


def batch_seconds(batch: list, *, notify: bool) -> float:
    from monitoring import engine

    original = engine._Batch.notify
    if not notify:
        engine._Batch.notify = lambda self, event: None
    try:
        started = time.perf_counter()
        engine.results_process(batch)
        return time.perf_counter() - started
    finally:
        engine._Batch.notify = original


def engine_overhead(rounds: int, per_round: int) -> None:
    """
    Paired batches: each step processes one batch without the Notification path and one
    with it, in random order, so the load of the shared machine at that moment hits both;
    the median of the per-pair ratios is the added cost.
    """
    from monitoring.models import Handler, Notification

    reset()
    rng = random.Random(16)
    for _ in range(0, 2000, BATCH):  # Warm: create the clients and pairs.
        batch_seconds(results(BATCH, rng), notify=True)
    assert not Handler.objects.exists()
    before, today, ratios = [], [], []
    for _ in range(rounds * per_round // BATCH):
        pair = {}
        for notify in rng.sample([False, True], 2):
            pair[notify] = batch_seconds(results(BATCH, rng), notify=notify)
        before.append(pair[False])
        today.append(pair[True])
        ratios.append(pair[True] / pair[False])
    assert not Notification.objects.exists()
    count = len(ratios) * BATCH
    print(f"engine, no handler configured ({len(ratios)} paired batches of {BATCH} results):")
    print(
        f"  without the Notification path (before handlers): {count / sum(before):8.0f} results/s"
    )
    print(f"  with 0 Handler rows (today):                     {count / sum(today):8.0f} results/s")
    median = statistics.median(ratios)
    quartiles = statistics.quantiles(ratios, n=4)
    print(
        f"  time per batch today/before: median {median:.3f} "
        f"(quartiles {quartiles[0]:.3f}..{quartiles[2]:.3f}): {100 * (median - 1):+.1f} % per result"
    )


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def dispatch_rate(kind: str, events: int) -> None:
    from django.conf import settings

    from monitoring.engine import ResultInput, results_process
    from monitoring.handling.dispatch import handling_dispatch_once
    from monitoring.handling.executors import handler_execute
    from monitoring.models import Handler, HandlerRun, Notification

    reset()
    server = None
    if kind == "pipe":
        Handler.objects.create(name="bench", type="pipe", command="cat")
    else:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        Handler.objects.create(name="bench", type="http", http_url=url)
    items = [
        ResultInput(
            client_name=f"bench-{i}",
            check={"name": "disk", "status": 2, "output": "DISK CRITICAL", "handlers": ["bench"]},
        )
        for i in range(events)
    ]
    for start in range(0, len(items), BATCH):
        results_process(items[start : start + BATCH])
    assert Notification.objects.count() == events
    started = time.perf_counter()
    summary = handling_dispatch_once()
    elapsed = time.perf_counter() - started
    done = HandlerRun.objects.filter(state="succeeded").count()
    assert done == events, summary
    # The ceiling: the same handler on the same data, run directly by a pool of the same
    # size, with no database at all (what spawning `cat` or POSTing costs by itself).
    handler = Handler.objects.get(name="bench")
    data = HandlerRun.objects.values_list("data", flat=True).first().encode()
    concurrency = settings.MONITORING_HANDLER_CONCURRENCY
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        bare = list(pool.map(lambda _: handler_execute(handler, data), range(events)))
    ceiling = time.perf_counter() - started
    assert all(execution.ok for execution in bare)
    if server is not None:
        server.shutdown()
    print(
        f"dispatch, {kind} handler: {events} events in {elapsed:.2f} s = {events / elapsed:7.0f}"
        f" events/s end to end (concurrency {concurrency}); bare handler ceiling"
        f" {events / ceiling:7.0f}/s; ratio {ceiling / elapsed:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=5000)
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    setup()
    from audits.context import audit_context

    with audit_context():
        engine_overhead(args.rounds, args.per_round)
        dispatch_rate("pipe", args.events)
        dispatch_rate("http", args.events * 3)
    reset()


if __name__ == "__main__":
    main()
