"""
What PostgreSQL's own settings do for sustained bulk ingest (issue 18 §4): the same
`bench/audit_ingest_sustained.py` run under each configuration below, alternating for
`--rounds`, each against the COPY floor measured in its own run. Each configuration is set
with ALTER SYSTEM and applied by restarting the local cluster (`pg_ctlcluster 15 main
restart`), so nothing else may be using it: hence `--restart-cluster`, without which the
script refuses. At the end the settings it changed are reset and the cluster restarted once
more.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_ingest DJANGO_SECRET_KEY=x \\
        .venv/bin/python -u bench/postgres_settings_ingest.py --restart-cluster --seconds 120

The database is a scratch one the sustained bench appends to. Ingest writes the current
month's partition, so `--preload-seconds` first fills it under the defaults (not reported),
until its indexes are larger than the default `shared_buffers`, as a month of a busy trail's
are. Every run appends more, so the rounds run the configurations in alternating order (A B
C, then C B A) and the growth falls on each alike.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# PostgreSQL 15's defaults (this machine's), then what docs/scaling.md recommends for the
# trail on a 24 GiB host: shared_buffers a quarter of the memory, and WAL room for 15 minutes
# between checkpoints, so that an index page is written whole to the WAL (full_page_writes)
# once per checkpoint rather than every 5 minutes or every 1 GB.
CONFIGURATIONS: dict[str, dict[str, str]] = {
    "defaults": {},
    "shared_buffers 6GB": {"shared_buffers": "6GB", "effective_cache_size": "16GB"},
    "+ WAL 8GB / 15 min, lz4": {
        "shared_buffers": "6GB",
        "effective_cache_size": "16GB",
        "max_wal_size": "8GB",
        "checkpoint_timeout": "15min",
        "wal_compression": "lz4",
    },
}
CHANGED = sorted({name for settings in CONFIGURATIONS.values() for name in settings})


def psql(sql: str) -> str:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def cluster_apply(settings: dict[str, str]) -> None:
    """The settings in postgresql.auto.conf (every other one this script changes reset), then
    a restart, awaited."""
    for name in CHANGED:
        psql(f"ALTER SYSTEM RESET {name}")
    for name, value in settings.items():
        psql(f"ALTER SYSTEM SET {name} = '{value}'")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"], check=True
    )
    for _ in range(60):
        if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0:
            break
        time.sleep(1)
    shown = psql(
        "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name)"
        f" FROM pg_settings WHERE name IN ({', '.join(repr(n) for n in CHANGED)})"
    )
    print(f"   server: {shown}", flush=True)


FIGURES = {
    "floor": re.compile(r"COPY floor: ([\d,]+) events/s"),
    "rate": re.compile(r"bulk: ([\d,]+) events/s"),
    "python_ms": re.compile(r"gunicorn workers \(Python\) ([\d.]+) ms"),
    "postgres_ms": re.compile(r"PostgreSQL backends ([\d.]+) ms"),
    "errors": re.compile(r"errors (\d+)"),
}


def sustained(seconds: float) -> dict[str, float]:
    run = subprocess.run(
        [
            sys.executable,
            "-u",
            str(ROOT / "bench/audit_ingest_sustained.py"),
            "--seconds",
            str(seconds),
            "--floor-seconds",
            "10",
            "--sample",
            "15",
        ],
        cwd=ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
    )
    out = run.stdout
    if run.returncode != 0:
        raise SystemExit(f"the sustained bench failed:\n{out}\n{run.stderr[-3000:]}")
    figures = {}
    for name, pattern in FIGURES.items():
        match = pattern.search(out)
        if match is None:
            raise SystemExit(f"no {name} in the sustained bench's output:\n{out}")
        figures[name] = float(match.group(1).replace(",", ""))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="sustained load per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--preload-seconds", type=float, default=240.0, help="0: the partition as it is"
    )
    parser.add_argument(
        "--restart-cluster",
        action="store_true",
        help="required: the script restarts the local PostgreSQL cluster for each run",
    )
    args = parser.parse_args()
    if not args.restart_cluster:
        raise SystemExit("refusing: this restarts the local cluster (--restart-cluster)")
    rows: list[tuple[str, dict[str, float]]] = []
    try:
        if args.preload_seconds > 0:
            print(f"preload: {args.preload_seconds:.0f} s under the defaults", flush=True)
            cluster_apply({})
            sustained(args.preload_seconds)
        for round_number in range(1, args.rounds + 1):
            order = list(CONFIGURATIONS.items())
            if round_number % 2 == 0:
                order.reverse()
            for label, settings in order:
                print(f"round {round_number}, {label}", flush=True)
                cluster_apply(settings)
                figures = sustained(args.seconds)
                rows.append((label, figures))
                print(
                    f"   {figures['rate']:,.0f} events/s, {figures['rate'] / figures['floor']:.1%}"
                    f" of the COPY floor ({figures['floor']:,.0f}); CPU per 1,000 events: Python"
                    f" {figures['python_ms']:.1f} ms, PostgreSQL {figures['postgres_ms']:.1f} ms;"
                    f" errors {figures['errors']:.0f}",
                    flush=True,
                )
    finally:
        cluster_apply({})
    base = statistics.median(f["rate"] / f["floor"] for label, f in rows if label == "defaults")
    base_pg = statistics.median(f["postgres_ms"] for label, f in rows if label == "defaults")
    for label in CONFIGURATIONS:
        mine = [f for name, f in rows if name == label]
        ratio = statistics.median(f["rate"] / f["floor"] for f in mine)
        pg = statistics.median(f["postgres_ms"] for f in mine)
        print(
            f"{label}: {ratio:.1%} of the floor ({ratio / base:.2f}x the defaults), PostgreSQL"
            f" {pg:.1f} ms per 1,000 events ({pg / base_pg:.2f}x), medians of {len(mine)} runs"
        )


if __name__ == "__main__":
    main()
