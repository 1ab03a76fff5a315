"""
Retention by partition drop (issue 18 §1 and §4): how long `audits_expire` takes to remove a
month of N events (default 10 million), and what concurrent ingest sees meanwhile.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_expire DJANGO_SECRET_KEY=x \\
        .venv/bin/python -u bench/audit_partition_expire.py --events 10000000

The database must be a scratch one: the script migrates it, empties the trail (as the test
runner's flush does) and loads a month of events received 13 months ago into its own
partition with `INSERT ... SELECT generate_series` (placeholder hashes, seq 1..N: the chain's
prefix; the chain is not what is measured), built without indexes and attached (one index
build per index). Then, while writer threads ingest without pause (single linked appends,
pending single events and 1,000-event bulk batches through the COPY path, each in its own
connection), it runs `audit_events_expire` and reports its duration, every writer's longest
call and errors during it, against the same writers' calls before it started.

Baseline in the same run: the row-by-row DELETE the partition drop replaces
(`audits_expire_through`, migration 0012, 0019's version) timed on --baseline-events rows
of another old month, as events/s, and what that rate makes of N events.
"""

import argparse
import logging
import os
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kit import django_setup

django_setup(
    DJANGO_ALLOW_ASYNC_UNSAFE="true",
    # Loading and indexing millions of rows takes minutes: no statement time limit here.
    DATABASE_STATEMENT_TIMEOUT_MS="0",
)

from django.core.management import call_command  # noqa: E402
from django.db import close_old_connections, connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from audits.chain import chain_link_pending  # noqa: E402
from audits.counters import audit_counts_roll_up  # noqa: E402
from audits.partitions import audit_partitions, interval_next, interval_start  # noqa: E402
from audits.services import (  # noqa: E402
    EXPIRE_LOCK_TIMEOUT_MS,
    audit_event_build,
    audit_event_record,
    audit_events_append,
    audit_events_expire,
)

COLUMNS_SQL = """
    g, g, 'integration', (ARRAY['user.login','host.update','license.sync','report.run'])[1 + g %% 4],
    'u', '', '', 'bench event ' || (g %% 1000), 'User', 'u' || (g %% 500), 'user' || (g %% 500), '',
    '{}', 'Host::Base', (g %% 2000)::text, 'host' || (g %% 2000), '', '{}', '', '', '',
    'default', 'production', 'g' || (g %% 20), '', NULL, '{}', '', NULL, '', false, false, '{}',
    '{}', '', '', '', t, t, lpad(to_hex(g - 1), 64, '0'), lpad(to_hex(g), 64, '0'), '', ''
"""
COLUMNS = (
    "id, seq, source, action, crud, name, title, description, actor_type, actor_id,"
    " actor_name, actor_href, actor_fields, target_type, target_id, target_name, target_href,"
    " target_fields, associated_type, associated_id, associated_name, project, environment,"
    " group_id, group_name, version, audited_changes, comment, remote_address, request_uuid,"
    " is_failure, is_anonymous, fields, metadata, external_id, component, component_version,"
    " created_at, received_at, prev_hash, hash, retraced_id, receipt_hash"
)


def empty_trail() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            "TRUNCATE audits_auditevent, audits_auditchainhead, audits_auditcheckpoint,"
            " audits_auditeventhourlycount, audits_auditcountwatermark,"
            " audits_auditeventlocation, audits_auditeventorganization"
        )
        cursor.execute("SET session_replication_role = origin")


def load_month(start: datetime, *, first: int, count: int) -> str:
    """Events first..first+count-1 (ids and seq) received over the month from `start`."""
    end = interval_next(start, "month")
    name = f"audits_auditevent_p{start:%Y%m%d}"
    seconds = (end - start).total_seconds()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        cursor.execute(
            f"CREATE TABLE {name} (LIKE audits_auditevent INCLUDING DEFAULTS INCLUDING"
            " CONSTRAINTS INCLUDING STORAGE)"
        )
        cursor.execute(
            f"INSERT INTO {name} ({COLUMNS}) SELECT {COLUMNS_SQL} FROM generate_series(%s, %s) g,"
            " LATERAL (SELECT %s::timestamptz + make_interval(secs => (g - %s) * %s) AS t) s",
            [first, first + count - 1, start, first, seconds / count],
        )
        cursor.execute(
            f"ALTER TABLE audits_auditevent ATTACH PARTITION {name}"
            f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
        cursor.execute(
            f"CREATE TRIGGER audits_auditevent_no_truncate BEFORE TRUNCATE ON {name}"
            " FOR EACH STATEMENT EXECUTE FUNCTION audits_auditevent_append_only()"
        )
        cursor.execute(f"ANALYZE {name}")
    return name


def chain_at(last: int) -> None:
    """The chain head (and the counters' watermark) where the loaded prefix ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audits_auditchainhead (id, last_seq, last_hash) VALUES (1, %s, %s)",
            [last, f"{last:064x}"],
        )
    audit_counts_roll_up()


class Writers:
    """Threads that ingest without pause, each call timed with its wall-clock start."""

    KINDS = ("linked single", "pending single", "bulk 1,000")

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.calls: dict[str, list[tuple[float, float]]] = {kind: [] for kind in self.KINDS}
        self.errors: dict[str, list[tuple[float, str]]] = {kind: [] for kind in self.KINDS}
        self.threads = [threading.Thread(target=self._run, args=(k,)) for k in self.KINDS]

    def _call(self, kind: str) -> None:
        if kind == "linked single":
            audit_event_record(action="bench.concurrent")
        elif kind == "pending single":
            audit_events_append([audit_event_build(action="bench.pending")], link=False)
        else:
            audit_events_append([audit_event_build(action="bench.bulk") for _ in range(1000)])

    def _run(self, kind: str) -> None:
        try:
            while not self.stop.is_set():
                began = time.perf_counter()
                try:
                    self._call(kind)
                except Exception as exc:  # the point is to count them
                    self.errors[kind].append((began, repr(exc)[:200]))
                self.calls[kind].append((began, time.perf_counter() - began))
        finally:
            close_old_connections()
            connection.close()

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def report(writers: Writers, window: tuple[float, float]) -> None:
    began, ended = window
    print(
        "| writer | calls before | p50 / max before (ms) | calls during expiry | p50 / max during (ms) | errors during |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in Writers.KINDS:
        before = [d for t, d in writers.calls[kind] if t + d < began]
        during = [d for t, d in writers.calls[kind] if t < ended and t + d > began]
        errors = [e for t, e in writers.errors[kind] if began <= t <= ended]

        def fmt(values):
            if not values:
                return "—"
            return f"{statistics.median(values) * 1000:.1f} / {max(values) * 1000:.1f}"

        print(
            f"| {kind} | {len(before)} | {fmt(before)} | {len(during)} | {fmt(during)} |"
            f" {len(errors)} |"
        )
        for error in errors[:3]:
            print(f"  error: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--baseline-events", type=int, default=200_000)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of ingest before")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("PostgreSQL only (DATABASE_URL=postgres://...)")
    call_command("migrate", verbosity=0)
    empty_trail()
    now = timezone.now()
    old = interval_start(now - timedelta(days=400), "month")
    baseline_month = interval_next(old, "month")
    t0 = time.perf_counter()
    part = load_month(old, first=1, count=args.events)
    base = load_month(baseline_month, first=args.events + 1, count=args.baseline_events)
    last = args.events + args.baseline_events
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('audits_auditevent', 'id'), %s)", [last]
        )
    chain_at(last)
    print(
        f"loaded {args.events:,} + {args.baseline_events:,} events in {time.perf_counter() - t0:.0f} s ({part}, {base})"
    )
    print(f"partitions: {len(audit_partitions())}; machine: {os.cpu_count()} cores")

    retries = []

    class RetryCounter(logging.Handler):
        def emit(self, record):
            retries.append(record.getMessage())

    logging.getLogger("audits.services").addHandler(RetryCounter(level=logging.INFO))
    logging.getLogger("audits.services").setLevel(logging.INFO)
    writers = Writers()
    writers.start()
    time.sleep(args.warmup)
    days = (now - interval_next(old, "month")).days
    began = time.perf_counter()
    result = audit_events_expire(days=days)
    ended = time.perf_counter()
    time.sleep(args.warmup / 2)
    writers.join()
    chain_link_pending()
    print(
        f"\naudits_expire --days {days}: removed {result.removed:,} events (through seq"
        f" {result.through_seq:,}) in {ended - began:.2f} s; the table was busy"
        f" {len(retries)} time(s) (each a {EXPIRE_LOCK_TIMEOUT_MS} ms wait, then a retry)"
    )
    report(writers, (began, ended))

    # Baseline: the row-by-row deletion of the next month's events through 0012's function.
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(seq) FROM audits_auditcheckpoint")
        start_seq = cursor.fetchone()[0]
        t = time.perf_counter()
        cursor.execute("SELECT audits_expire_through(%s)", [start_seq + args.baseline_events])
        deleted = cursor.fetchone()[0]
        row_seconds = time.perf_counter() - t
    rate = deleted / row_seconds
    print(
        f"\nbaseline, row by row (audits_expire_through): {deleted:,} events in"
        f" {row_seconds:.2f} s = {rate:,.0f} events/s; {args.events:,} events would take"
        f" {args.events / rate:,.0f} s: {args.events / rate / (ended - began):,.0f}x the partition drop"
    )


if __name__ == "__main__":
    main()
