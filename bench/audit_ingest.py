"""
Audit ingest benchmark (issue 3, section 7), on PostgreSQL through gunicorn on loopback, in
the production configuration (integration_site/gunicorn_conf.py, DEBUG off, access log on).

  1. Single-event POST /audit/v1/event at 16 concurrent clients: throughput and p50/p95/p99,
     against a bare-Django ceiling view in the same deployment doing one INSERT per request
     (bench/audit_ingest_urls.py, bench-only). Target: ingest >= 60 % of the ceiling. Also
     against the same INSERT answered where the ingest fast path answers (token checked,
     browser middleware and DRF skipped), the like-for-like figure.
  2. Bulk POST /audit/v1/event/bulk with 1,000 events per request: events/s (COPY path,
     production indexes). Target: >= 50,000 events/s.

Single POSTs are stored pending and linked by `manage.py worker` (run here alongside
gunicorn, as in production); the script reports the pending backlog after the single-POST
phase and how long the worker takes to link it, and ends with `audit_verify`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h3bench .venv/bin/python bench/audit_ingest.py

The load generator is one asyncio process (a new connection per request: gunicorn's sync
workers close after each response). The machine has 2 cores shared by gunicorn, PostgreSQL,
this generator and other helpers' work: figures are noisy, read the ratios.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.kit import (  # noqa: E402 (after the path that finds it)
    audit_event_copy_row,
    audit_event_table_columns,
    audit_verify_summary,
    bulk_body,
    copy_text,
    ensure_database,
    percentile,
    site_environment,
    stop_process_groups,
)

PORT = int(os.environ.get("BENCH_PORT", "8763"))  # another run may hold 8763
EVENT = {
    "name": "user.login",
    "description": "john@example.com logged in successfully",
    "title": "User Login Success",
    "action": "user.login.success",
    "ip_address": "192.30.252.12",
}


def env() -> dict[str, str]:
    return site_environment(
        database="h3bench",
        settings_module="bench.audit_ingest_settings",
        DJANGO_MANIFEST_STATIC="0",
        DJANGO_DEBUG="",
    )


def prepare() -> str:
    """Migrate, create the ceiling table and a write token; returns the token's secret."""
    environment = env()
    ensure_database(environment["DATABASE_URL"])
    python = str(ROOT / ".venv/bin/python")
    subprocess.run(
        [python, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=environment, check=True
    )
    script = (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "from integration_site.services import api_token_create\n"
        "with connection.cursor() as c:\n"
        "    c.execute('CREATE TABLE IF NOT EXISTS bench_ceiling (id bigserial PRIMARY KEY, "
        "body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())')\n"
        "_, secret = api_token_create(name=f'bench-{__import__(\"uuid\").uuid4()}', "
        "scopes=['audit:write', 'audit:verify'])\n"
        "print(secret)\n"
    )
    out = subprocess.run(
        [python, "-c", script],
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/python"), "manage.py", "worker", "--interval", "0.5"],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def pending_events() -> int:
    import psycopg

    with psycopg.connect(env()["DATABASE_URL"], autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM audits_auditevent WHERE seq IS NULL").fetchone()[
            0
        ]


def wait_for_linking(*, timeout: float = 60, poll: float = 0.2) -> tuple[int, float]:
    """Wait until the worker has linked every pending event, `timeout` at most: (the backlog
    when called, the seconds waited)."""
    backlog, started = pending_events(), time.perf_counter()
    while pending_events() and time.perf_counter() - started < timeout:
        time.sleep(poll)
    return backlog, time.perf_counter() - started


def start_gunicorn() -> subprocess.Popen:
    process = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "integration_site.wsgi:application",
            "-c",
            str(ROOT / "integration_site/gunicorn_conf.py"),
            "-b",
            f"127.0.0.1:{PORT}",
        ],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            asyncio.run(request("GET", "/health", b"", {}))
            return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("gunicorn did not start")


async def request(method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head += ["Connection: close", "", ""]
    writer.write("\r\n".join(head).encode() + body)
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()  # to EOF: the worker closes after the response
    writer.close()
    return int(status_line.split()[1])


async def load(path: str, body: bytes, headers: dict, *, clients: int, seconds: float):
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client():
        nonlocal errors
        while time.perf_counter() < stop:
            started = time.perf_counter()
            status = await request("POST", path, body, headers)
            if status != 201:
                errors += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors, time.perf_counter() - started


def report(label: str, latencies, errors, elapsed, per_request: int = 1) -> float:
    rate = len(latencies) / elapsed
    print(
        f"{label:<28} {rate:8.0f} req/s  {rate * per_request:9.0f} events/s  "
        f"p50 {percentile(latencies, 0.5) * 1000:6.1f} ms  "
        f"p95 {percentile(latencies, 0.95) * 1000:6.1f} ms  "
        f"p99 {percentile(latencies, 0.99) * 1000:6.1f} ms  errors {errors}  (n={len(latencies)})"
    )
    return rate


def postgres_copy_floor(batches: int = 20) -> None:
    """
    What PostgreSQL alone spends absorbing 1,000 bench events, with no HTTP and no Python
    beyond sending pre-formatted COPY data: into the production table (every index) and into
    an index-free copy of it, each COPY rolled back (nothing stays; the chain is untouched).
    """
    import hashlib
    import uuid
    from datetime import UTC, datetime

    import psycopg

    with psycopg.connect(env()["DATABASE_URL"]) as conn:
        columns = audit_event_table_columns(conn)
        indexes = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'audits_auditevent'"
        ).fetchone()[0]
        conn.execute("DROP TABLE IF EXISTS bench_unindexed")
        conn.execute("CREATE TABLE bench_unindexed (LIKE audits_auditevent INCLUDING DEFAULTS)")
        conn.commit()
        row = {**audit_event_copy_row(columns, EVENT, datetime.now(UTC)), "prev_hash": "0" * 64}

        def rows(first_id: int) -> list[list]:
            return [
                [
                    {
                        **row,
                        "id": first_id + i,
                        "seq": first_id + i,
                        "action": f"bulk.event.{i % 50}",
                        "request_uuid": str(uuid.uuid4()),
                        "hash": hashlib.sha256(str(first_id + i).encode()).hexdigest(),
                    }[c]
                    for c in columns
                ]
                for i in range(1000)
            ]

        timings: dict[str, list[float]] = {"audits_auditevent": [], "bench_unindexed": []}
        for batch in range(batches):
            data = copy_text(conn, rows(10**12 + batch * 1000))  # ids far above any real one
            for table, measured in timings.items():
                started = time.perf_counter()
                with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    copy.write(data)
                measured.append(time.perf_counter() - started)
                conn.rollback()
        conn.execute("DROP TABLE bench_unindexed")
        conn.commit()
    production = statistics.median(timings["audits_auditevent"]) * 1000
    bare = statistics.median(timings["bench_unindexed"]) * 1000
    print(
        f"PostgreSQL alone, COPY of 1,000 events (median of {batches}, rolled back): "
        f"production table ({indexes} indexes) {production:.1f} ms, no indexes {bare:.1f} ms; "
        f"index maintenance {production - bare:.1f} ms. Two cores doing nothing else could "
        f"absorb at most {2 * 1000 / production * 1000:,.0f} events/s into the production table."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per single-POST phase")
    parser.add_argument("--bulk-seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--bulk-clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="alternate ceiling/ingest runs")
    parser.add_argument("--bulk-only", action="store_true", help="skip the single-POST phase")
    args = parser.parse_args()

    secret = prepare()
    auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    body = json.dumps(EVENT).encode()
    bulk_request_body = bulk_body(EVENT)
    gunicorn = start_gunicorn()
    worker = start_worker()
    try:
        # Warm every worker (imports, pool connections) before measuring.
        asyncio.run(load("/audit/v1/event", body, auth, clients=args.clients, seconds=3))
        asyncio.run(load("/bench/audit-ceiling", body, {}, clients=args.clients, seconds=2))
        asyncio.run(load("/bench/audit-fast-ceiling", body, auth, clients=args.clients, seconds=2))
        ingest = None
        if not args.bulk_only:
            ceilings, fast_ceilings, ingests = [], [], []
            for round_ in range(args.rounds):
                print(f"-- round {round_ + 1}: {args.clients} clients, {args.seconds:.0f} s each")
                ceilings.append(
                    report(
                        "ceiling (1 INSERT/request)",
                        *asyncio.run(
                            load(
                                "/bench/audit-ceiling",
                                body,
                                {},
                                clients=args.clients,
                                seconds=args.seconds,
                            )
                        ),
                    )
                )
                fast_ceilings.append(
                    report(
                        "ceiling at the fast path",
                        *asyncio.run(
                            load(
                                "/bench/audit-fast-ceiling",
                                body,
                                auth,
                                clients=args.clients,
                                seconds=args.seconds,
                            )
                        ),
                    )
                )
                ingests.append(
                    report(
                        "POST /audit/v1/event",
                        *asyncio.run(
                            load(
                                "/audit/v1/event",
                                body,
                                auth,
                                clients=args.clients,
                                seconds=args.seconds,
                            )
                        ),
                    )
                )
            ceiling, ingest = statistics.median(ceilings), statistics.median(ingests)
            fast_ceiling = statistics.median(fast_ceilings)
            print(f"single-event ingest / ceiling: {ingest / ceiling:.0%} (target >= 60%)")
            # The bare view pays the whole middleware stack, which the fast path skips.
            print(
                f"single-event ingest / the same INSERT at the fast path: "
                f"{ingest / fast_ceiling:.0%}"
            )
            backlog, waited = wait_for_linking()
            print(
                f"pending after the single-POST phase: {backlog}; linked by the worker in "
                f"{waited:.1f} s (left: {pending_events()})"
            )

        print(
            f"-- bulk: 1,000 events/request, {args.bulk_clients} clients, "
            f"{args.bulk_seconds:.0f} s each, {args.rounds} rounds"
        )
        bulk_ceilings, bulks = [], []
        for _ in range(args.rounds):
            bulk_ceilings.append(
                report(
                    "bulk ceiling (1 COPY, no index)",
                    *asyncio.run(
                        load(
                            "/bench/audit-bulk-ceiling",
                            bulk_request_body,
                            {},
                            clients=args.bulk_clients,
                            seconds=args.bulk_seconds,
                        )
                    ),
                    per_request=1000,
                )
            )
            bulks.append(
                report(
                    "POST /audit/v1/event/bulk",
                    *asyncio.run(
                        load(
                            "/audit/v1/event/bulk",
                            bulk_request_body,
                            auth,
                            clients=args.bulk_clients,
                            seconds=args.bulk_seconds,
                        )
                    ),
                    per_request=1000,
                )
            )
        rate, ceiling_rate = statistics.median(bulks), statistics.median(bulk_ceilings)
        print(
            f"bulk events/s: {rate * 1000:.0f} (target >= 50,000); "
            f"{rate / ceiling_rate:.0%} of the same run's bulk ceiling ({ceiling_rate * 1000:.0f}/s)"
            + (f"; {rate * 1000 / ingest:.0f}x the single-event POST rate" if ingest else "")
        )
        print(f"audit_verify after the run: {audit_verify_summary(env())}")
        postgres_copy_floor()
    finally:
        stop_process_groups([worker, gunicorn])


if __name__ == "__main__":
    main()
