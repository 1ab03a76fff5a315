"""
What the read-replica router costs (integration_site/replicas.py, issue 18 §3), measured in
one run against a baseline without it:

1. A Foreman `/api/audits` search (the marked view most clients call) through the whole
   middleware stack, in-process: as configured (ReplicaReadsMiddleware and ReplicaRouter,
   no replica set, so every read goes to the primary after the router's checks), against
   the same requests with the middleware and the router removed.
2. One health check of a replica (connect, lag query, close), which each process makes per
   replica every DATABASE_REPLICA_CHECK_SECONDS in a thread of its own: its wall time,
   against a plain connect and close to the same server. It is run against the primary
   (which answers "not a replica"): the same round trips.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/replica_bench DJANGO_SECRET_KEY=x \\
        .venv/bin/python bench/replica_router.py --requests 400 --checks 50

The database must be a scratch one: the script migrates it and records a few events.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")

import django

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from audits.services import audit_event_record  # noqa: E402
from integration_site.replicas import replica_check  # noqa: E402
from integration_site.services import api_token_create  # noqa: E402

MIDDLEWARE = "integration_site.replicas.ReplicaReadsMiddleware"


def _timed_requests(client: Client, count: int) -> list[float]:
    times = []
    for number in range(count):
        started = time.perf_counter()
        response = client.get("/api/audits", {"search": f"action ~ bench.{number % 10}"})
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content
    return times


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(times) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--checks", type=int, default=50)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database.")
    call_command("migrate", verbosity=0)
    for number in range(200):
        audit_event_record(action=f"bench.{number % 10}")
    _, secret = api_token_create(name=f"bench-{time.time_ns()}", scopes=["audit:read"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_HOST="127.0.0.1")

    without = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE]
    _timed_requests(client, 50)  # warm-up: imports, caches, pool
    # Interleaved rounds, so a neighbour's load falls on both alike.
    routed, baseline = [], []
    for _round in range(4):
        routed += _timed_requests(client, args.requests // 4)
        with override_settings(MIDDLEWARE=without, DATABASE_ROUTERS=[]):
            # A client of its own: a client's handler builds its middleware chain once.
            plain = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_HOST="127.0.0.1")
            baseline += _timed_requests(plain, args.requests // 4)
    print(f"/api/audits search, {len(routed)} requests each, in-process:")
    print(f"  with the replica middleware and router (no replica): {_summary(routed)}")
    print(f"  without them (baseline):                            {_summary(baseline)}")
    print(f"  ratio of medians: {statistics.median(routed) / statistics.median(baseline):.3f}")

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    checks, connects = [], []
    for _ in range(args.checks):
        started = time.perf_counter()
        status = replica_check(connection.get_connection_params())
        checks.append(time.perf_counter() - started)
        assert not status.usable  # the primary is no replica: same round trips
        started = time.perf_counter()
        psycopg.connect(**params, autocommit=True).close()
        connects.append(time.perf_counter() - started)
    print(f"replica health check, {args.checks} each:")
    print(f"  connect + lag query + close: {_summary(checks)}")
    print(f"  connect + close (baseline):  {_summary(connects)}")
    print(f"  ratio of medians: {statistics.median(checks) / statistics.median(connects):.3f}")
    every = settings.DATABASE_REPLICA_CHECK_SECONDS
    share = statistics.median(checks) / every * 100
    print(f"  one check every {every} s per replica per process: {share:.3f} % of a thread's time")


if __name__ == "__main__":
    main()
