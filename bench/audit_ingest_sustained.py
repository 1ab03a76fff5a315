"""
Sustained bulk ingest (issue 18 §4) and what a chain per project would change (§5), on
PostgreSQL through gunicorn on loopback in the production configuration, with the
production indexes and chain linking (the harness of bench/audit_ingest.py).

  1. The COPY floor, measured in the same run: PostgreSQL's own COPY of the same 1,000-event
     batches (pre-formatted, no HTTP, no Python work) by as many connections as there are bulk
     clients, committed, into an index-free table of the production table's width: events/s.
     And one connection's COPY of a batch into the production table and into the index-free
     one (rolled back): PostgreSQL's milliseconds per 1,000 events.
  2. `POST /audit/v1/event/bulk`, 1,000 events per request, `--bulk-clients` clients, for
     `--seconds` (300 by default: the target's 5 minutes), with `--single-clients` single-event
     POSTs alongside (stored pending: the worker and every bulk append link them). Every
     `--sample` seconds: events/s in the interval and the pending backlog. After the load: how
     long until the backlog is empty. CPU per 1,000 events, read from /proc: the gunicorn
     workers (Python), this database's PostgreSQL backends, and the load generator.
     Reported as events/s and as a ratio of the COPY floor's rate. `--wait-sample-ms 20`: also
     where the requests' backends wait, read from pg_stat_activity (the chain head's queue).
  3. `--lock-models` (the chain per project, §5, bench-only): raw psycopg workers COPY the
     same batches into a clone of the production table (every index) and link them, for
     `--lock-seconds` per model:
       shared     one chain head; lock, COPY the wide rows with their chain columns, move the
                  head, COMMIT: today's linked bulk append;
       project    the same, half the workers on each of two heads (a chain per project);
       link-table the wide rows COPYed before the lock, only narrow (id, seq, prev_hash,
                  hash) rows under it: the side-table design of issue 3's session 2.
     Events/s and the mean time spent waiting for the head lock per batch.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_ingest .venv/bin/python -u bench/audit_ingest_sustained.py --seconds 300 --lock-models

`--seconds 30` for a quick run; `--endpoint publisher` loads Retraced's bulk publish instead,
whose events are stored pending (the worker's linker must keep up); `--lock-only` runs only
the prototype. The machine's cores are shared by gunicorn, PostgreSQL, this
generator and other helpers' work: read the ratios, which are measured in the same run.
"""

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.audit_ingest import (
    EVENT,
    env,
    load,
    pending_events,
    postgres_copy_floor,
    prepare,
    request,
    start_gunicorn,
    start_worker,
    wait_for_linking,
)
from bench.kit import (
    audit_event_copy_row,
    audit_event_table_columns,
    audit_verify_summary,
    bulk_body,
    child_pids,
    copy_text,
    percentile,
    postgres_backend_pids,
    process_cpu_seconds,
    run_threads,
    stop_process_groups,
)

BATCH = 1000


# Retraced's publisher bulk stores its events pending (a receipt needs no chain position):
# the worker's linker must keep up with it. The event is bench/retraced_publish.py's.
ENDPOINTS = {
    "replicated": "/audit/v1/event/bulk",
    "publisher": "/publisher/v1/project/default/event/bulk",
}


def endpoint_bulk_body(endpoint: str = "replicated") -> bytes:
    if endpoint == "publisher":
        from bench.retraced_publish import RETRACED_EVENT

        return bulk_body(RETRACED_EVENT, BATCH)
    return bulk_body(EVENT, BATCH)


# --- CPU accounting --------------------------------------------------------------------


class CpuMeter:
    """CPU used by a changing set of processes between start() and stop()."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def sample(self, pids: list[int]) -> None:
        for pid in pids:
            used = process_cpu_seconds(pid)
            self.first.setdefault(pid, used)
            self.last[pid] = used

    def seconds(self) -> float:
        # A process first seen mid-run counts from when it was seen (slightly low).
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


class WaitSampler:
    """
    What this database's client backends are doing, read from pg_stat_activity every
    `interval` seconds by a connection of its own while the load runs: each sample counts the
    backends that are not idle by (state, wait_event_type, wait_event). `means()` is the mean
    number of backends in each, i.e. how many of the requests in PostgreSQL were, on average,
    running, waiting for a lock (the chain head: `Lock/transactionid`, a row locked by another
    transaction), waiting for their client (`ClientRead`: inside a transaction between two
    statements, or a COPY waiting for its data), or for I/O.
    """

    SQL = (
        "SELECT state, coalesce(wait_event_type, 'CPU'), coalesce(wait_event, ''), count(*)"
        " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend' AND state <> 'idle' GROUP BY 1, 2, 3"
    )

    def __init__(self, url: str, interval: float = 0.02) -> None:
        import psycopg

        self.connection = psycopg.connect(url, autocommit=True)
        self.interval = interval
        self.counts: dict[tuple[str, str, str], int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[tuple[str, str, str], float]:
        self._stop.set()
        self._thread.join()
        self.connection.close()
        return {key: n / max(self.samples, 1) for key, n in self.counts.items()}

    def _run(self) -> None:
        with self.connection.cursor() as cursor:
            while not self._stop.wait(self.interval):
                cursor.execute(self.SQL)
                for state, kind, event, n in cursor.fetchall():
                    key = (state, kind, event)
                    self.counts[key] = self.counts.get(key, 0) + n
                self.samples += 1


def waits_describe(means: dict[tuple[str, str, str], float]) -> list[str]:
    """The sampled states, busiest first, as lines of `mean backends  state wait`."""
    return [
        f"  {mean:5.2f}  {state:20} {kind}/{event}"
        if event
        else f"  {mean:5.2f}  {state:20} {kind}"
        for (state, kind, event), mean in sorted(means.items(), key=lambda item: -item[1])
        if mean >= 0.005
    ]


# --- PostgreSQL's own COPY rate (the floor) --------------------------------------------


def formatted_batches(conn, columns: list[str], count: int, first_id: int) -> list[bytes]:
    """`count` COPY-text batches of BATCH bench events each, ids from `first_id`."""
    base = {
        **audit_event_copy_row(columns, EVENT, datetime.now(UTC)),
        "project": "default",
        "environment": "production",
        "retraced_id": "",
        "receipt_hash": "",
        "seq": None,
        "prev_hash": None,
        "hash": None,
    }
    request_uuid = str(uuid.uuid4())
    batches = []
    for batch in range(count):
        rows = []
        for i in range(BATCH):
            pk = first_id + batch * BATCH + i
            row = {**base, "id": pk, "action": f"bulk.event.{i % 50}"}
            row["request_uuid"] = request_uuid
            rows.append([row[c] for c in columns])
        batches.append(copy_text(conn, rows))
    return batches


def copy_floor_rate(url: str, *, connections: int, seconds: float) -> float:
    """
    Events/s PostgreSQL absorbs by COPY (committed) into an index-free table of the event
    table's width, `connections` at a time: the floor the HTTP path is measured against.
    """
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy_floor")
        conn.execute("CREATE TABLE bench_copy_floor (LIKE audits_auditevent INCLUDING DEFAULTS)")
        columns = audit_event_table_columns(conn)
        batches = formatted_batches(conn, columns, 8, 10**13)
    statement = f"COPY bench_copy_floor ({', '.join(columns)}) FROM STDIN"
    counts = [0] * connections
    stop = time.perf_counter() + seconds

    def worker(index: int) -> None:
        with psycopg.connect(url) as conn:
            while time.perf_counter() < stop:
                with conn.cursor().copy(statement) as copy:
                    copy.write(batches[counts[index] % len(batches)])
                conn.commit()
                counts[index] += 1

    elapsed = run_threads(worker, connections)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_copy_floor")
    return sum(counts) * BATCH / elapsed


# --- The sustained HTTP load -------------------------------------------------------------


def sustained(args, secret: str, gunicorn, url: str) -> dict:
    import psycopg

    auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    path, body = ENDPOINTS[args.endpoint], endpoint_bulk_body(args.endpoint)
    single = json.dumps(EVENT).encode()
    done = {"bulk": 0, "single": 0, "errors": 0}
    latencies: list[float] = []
    samples: list[tuple[float, float, int]] = []
    python_cpu, postgres_cpu = CpuMeter(), CpuMeter()
    monitor = psycopg.connect(url, autocommit=True)

    def meter() -> None:
        python_cpu.sample(child_pids(gunicorn.pid))
        postgres_cpu.sample(postgres_backend_pids(monitor.cursor()))

    async def run() -> float:
        stop = time.perf_counter() + args.seconds

        async def bulk_client():
            while time.perf_counter() < stop:
                started = time.perf_counter()
                status = await request("POST", path, body, auth)
                latencies.append(time.perf_counter() - started)
                if status == 201:
                    done["bulk"] += 1
                else:
                    done["errors"] += 1

        async def single_client():
            while time.perf_counter() < stop:
                status = await request("POST", "/audit/v1/event", single, auth)
                done["single" if status == 201 else "errors"] += 1

        async def sampler():
            last_time, last_bulk = time.perf_counter(), 0
            while time.perf_counter() < stop:
                await asyncio.sleep(args.sample)
                now, bulk = time.perf_counter(), done["bulk"]
                backlog = await asyncio.to_thread(pending_events)
                await asyncio.to_thread(meter)
                rate = (bulk - last_bulk) * BATCH / (now - last_time)
                samples.append((now - started, rate, backlog))
                print(f"  t={now - started:6.1f} s  {rate:9,.0f} events/s  pending {backlog}")
                last_time, last_bulk = now, bulk

        started = time.perf_counter()
        await asyncio.gather(
            *(bulk_client() for _ in range(args.bulk_clients)),
            *(single_client() for _ in range(args.single_clients)),
            sampler(),
        )
        return time.perf_counter() - started

    meter()
    waits = WaitSampler(url, args.wait_sample_ms / 1000) if args.wait_sample_ms else None
    if waits is not None:
        waits.start()
    generator_before = time.process_time()
    elapsed = asyncio.run(run())
    meter()
    generator = time.process_time() - generator_before
    wait_means = waits.stop() if waits is not None else {}
    backlog, drained = wait_for_linking(timeout=120, poll=0.1)
    monitor.close()
    events = done["bulk"] * BATCH + done["single"]
    return {
        "elapsed": elapsed,
        "bulk_rate": done["bulk"] * BATCH / elapsed,
        "single_rate": done["single"] / elapsed,
        "errors": done["errors"],
        "latencies": latencies,
        "samples": samples,
        "backlog_end": backlog,
        "drained": drained,
        "left": pending_events(),
        "python_ms": python_cpu.seconds() * 1000 / (events / BATCH),
        "postgres_ms": postgres_cpu.seconds() * 1000 / (events / BATCH),
        "generator_ms": generator * 1000 / (events / BATCH),
        "waits": wait_means,
    }


# --- Lock models (bench-only prototype of a chain per project) -------------------------


def lock_models(url: str, *, workers: int, seconds: float) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("bench_chain_events", "bench_chain_links", "bench_chain_heads"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        # Every index of the production table (LIKE of a partitioned table copies them as
        # plain indexes), without its triggers: a clone the prototype may write freely.
        conn.execute("CREATE TABLE bench_chain_events (LIKE audits_auditevent INCLUDING ALL)")
        conn.execute(
            "CREATE TABLE bench_chain_links (seq bigint PRIMARY KEY, chain int NOT NULL, "
            "event_id bigint NOT NULL UNIQUE, prev_hash varchar(64) NOT NULL, "
            "hash varchar(64) NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE bench_chain_heads (chain int PRIMARY KEY, last_seq bigint NOT NULL, "
            "last_hash varchar(64) NOT NULL)"
        )
        # One nextval per batch draws a block of BATCH ids (concurrent nextvals interleave).
        conn.execute("DROP SEQUENCE IF EXISTS bench_chain_ids")
        conn.execute(f"CREATE SEQUENCE bench_chain_ids INCREMENT BY {BATCH}")
        indexes = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'bench_chain_events'"
        ).fetchone()[0]
        columns = audit_event_table_columns(conn)
        template = formatted_batches(conn, columns, 1, 0)[0].split(b"\n")[:-1]
    id_index = columns.index("id")
    seq_index, prev_index, hash_index = (columns.index(c) for c in ("seq", "prev_hash", "hash"))
    # Each event's canonical text stands in for the real one (same length class): the
    # SHA-256 chaining under the lock is the real cost.
    canonicals = [line.decode() for line in template]
    wide = f"COPY bench_chain_events ({', '.join(columns)}) FROM STDIN"
    narrow = "COPY bench_chain_links (seq, chain, event_id, prev_hash, hash) FROM STDIN"

    def rows_with(first_id: int, links: list[tuple[int, str, str]] | None) -> bytes:
        out = []
        for i, line in enumerate(template):
            cells = line.split(b"\t")
            cells[id_index] = b"%d" % (first_id + i)
            if links is not None:
                seq, prev, digest = links[i]
                cells[seq_index] = b"%d" % seq
                cells[prev_index] = prev.encode()
                cells[hash_index] = digest.encode()
            out.append(b"\t".join(cells))
        return b"\n".join(out) + b"\n"

    def chained(seq: int, prev: str) -> list[tuple[int, str, str]]:
        links = []
        for text in canonicals:
            seq += 1
            digest = hashlib.sha256((prev + text).encode()).hexdigest()
            links.append((seq, prev, digest))
            prev = digest
        return links

    def run(model: str) -> tuple[float, float, float]:
        chains = 2 if model == "project" else 1
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("TRUNCATE bench_chain_events, bench_chain_links, bench_chain_heads")
            for chain in range(chains):
                conn.execute(
                    "INSERT INTO bench_chain_heads VALUES (%s, %s, %s)",
                    [chain, chain * 10**12, "0" * 64],
                )
            conn.execute("CHECKPOINT")
        counts, waits, held = [0] * workers, [0.0] * workers, [0.0] * workers
        stop = time.perf_counter() + seconds

        def worker(index: int) -> None:
            chain = index % chains
            with psycopg.connect(url) as conn:
                while time.perf_counter() < stop:
                    (first_id,) = conn.execute("SELECT nextval('bench_chain_ids')").fetchone()
                    ids = list(range(first_id, first_id + BATCH))
                    if model == "link-table":
                        with conn.cursor().copy(wide) as copy:
                            copy.write(rows_with(first_id, None))
                    asked = time.perf_counter()
                    seq, prev = conn.execute(
                        "SELECT last_seq, last_hash FROM bench_chain_heads WHERE chain = %s "
                        "FOR UPDATE",
                        [chain],
                    ).fetchone()
                    locked = time.perf_counter()
                    links = chained(seq, prev)
                    if model == "link-table":
                        data = b"".join(
                            b"%d\t%d\t%d\t%s\t%s\n" % (s, chain, pk, p.encode(), h.encode())
                            for pk, (s, p, h) in zip(ids, links, strict=True)
                        )
                        with conn.cursor().copy(narrow) as copy:
                            copy.write(data)
                    else:
                        with conn.cursor().copy(wide) as copy:
                            copy.write(rows_with(first_id, links))
                    conn.execute(
                        "UPDATE bench_chain_heads SET last_seq = %s, last_hash = %s "
                        "WHERE chain = %s",
                        [links[-1][0], links[-1][2], chain],
                    )
                    conn.commit()
                    waits[index] += locked - asked
                    held[index] += time.perf_counter() - locked
                    counts[index] += 1

        elapsed = run_threads(worker, workers)
        batches = sum(counts)
        return batches * BATCH / elapsed, sum(waits) / batches * 1000, sum(held) / batches * 1000

    print(
        f"-- lock models: {workers} psycopg workers, {seconds:.0f} s each, 1,000 events per "
        f"batch, clone of the production table ({indexes} indexes), no HTTP"
    )
    results = {}
    for model in ("shared", "project", "link-table"):
        rate, wait, held = run(model)
        results[model] = rate
        print(
            f"{model:<11} {rate:9,.0f} events/s  head lock: waited {wait:6.1f} ms, held "
            f"{held:6.1f} ms per batch"
        )
    print(
        f"a chain per project (2 projects) / one shared head: "
        f"{results['project'] / results['shared']:.2f}x; narrow link table / shared: "
        f"{results['link-table'] / results['shared']:.2f}x"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("bench_chain_events", "bench_chain_links", "bench_chain_heads"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DROP SEQUENCE bench_chain_ids")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="sustained load")
    parser.add_argument("--bulk-clients", type=int, default=4)
    parser.add_argument(
        "--single-clients", type=int, default=0, help="single-event POSTs alongside (pending)"
    )
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--floor-seconds", type=float, default=15.0)
    parser.add_argument(
        "--endpoint",
        choices=ENDPOINTS,
        default="replicated",
        help="replicated: /audit/v1/event/bulk, linked at once; publisher: Retraced's, pending",
    )
    parser.add_argument("--lock-models", action="store_true", help="also the §5 prototype")
    parser.add_argument("--lock-only", action="store_true", help="only the §5 prototype")
    parser.add_argument("--lock-seconds", type=float, default=20.0)
    parser.add_argument("--lock-workers", type=int, default=4)
    parser.add_argument(
        "--wait-sample-ms",
        type=float,
        default=0.0,
        help="read the backends' waits from pg_stat_activity every this many ms (0, the "
        "default: not at all, since the sampler's own backend adds to PostgreSQL's CPU and "
        "costs the rate 3-5 %%)",
    )
    args = parser.parse_args()

    url = env()["DATABASE_URL"]
    if args.lock_only:
        lock_models(url, workers=args.lock_workers, seconds=args.lock_seconds)
        return
    secret = prepare()
    auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    gunicorn, worker = start_gunicorn(), start_worker()
    try:
        asyncio.run(
            load(
                ENDPOINTS[args.endpoint],
                endpoint_bulk_body(args.endpoint),
                auth,
                clients=2,
                seconds=3,
            )
        )
        floor = copy_floor_rate(url, connections=args.bulk_clients, seconds=args.floor_seconds)
        print(
            f"COPY floor: {floor:,.0f} events/s ({args.bulk_clients} connections, committed "
            f"batches of 1,000 into an index-free table of the event table's width)"
        )
        print(
            f"-- sustained bulk, POST {ENDPOINTS[args.endpoint]}: {args.bulk_clients} clients "
            "x 1,000 events/request, "
            f"{args.single_clients} single-event clients, {args.seconds:.0f} s"
        )
        result = sustained(args, secret, gunicorn, url)
        rate = result["bulk_rate"]
        backlogs = [backlog for _, _, backlog in result["samples"]]
        print(
            f"bulk: {rate:,.0f} events/s sustained over {result['elapsed']:.0f} s "
            f"(target >= 50,000), {rate / floor:.0%} of the COPY floor; p50 "
            f"{percentile(result['latencies'], 0.5) * 1000:.0f} ms, p95 "
            f"{percentile(result['latencies'], 0.95) * 1000:.0f} ms per request; errors "
            f"{result['errors']}; single POSTs alongside {result['single_rate']:.0f}/s"
        )
        if backlogs:
            print(
                f"pending backlog during the run: max {max(backlogs)}, median "
                f"{statistics.median(backlogs):.0f}; at the end {result['backlog_end']}, empty "
                f"{result['drained']:.1f} s after the load ended (left {result['left']}; "
                "target <= 10 s)"
            )
        print(
            f"CPU per 1,000 events: gunicorn workers (Python) {result['python_ms']:.1f} ms, "
            f"PostgreSQL backends {result['postgres_ms']:.1f} ms, load generator "
            f"{result['generator_ms']:.1f} ms; two cores spent on nothing else would allow "
            f"{2000 / (result['python_ms'] + result['postgres_ms']) * 1000:,.0f} events/s"
        )
        if args.wait_sample_ms:
            print(
                "backends of this database that were not idle, mean over the run (sampled "
                f"every {args.wait_sample_ms} ms from pg_stat_activity): state, wait"
            )
            print(*waits_describe(result["waits"]), sep="\n")
        print(f"audit_verify after the run: {audit_verify_summary(env())}")
        postgres_copy_floor()
    finally:
        stop_process_groups([worker, gunicorn])
    if args.lock_models:
        lock_models(url, workers=args.lock_workers, seconds=args.lock_seconds)


if __name__ == "__main__":
    main()
