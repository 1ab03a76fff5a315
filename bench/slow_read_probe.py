"""
What `slow_read` (integration_site.db_limits) adds to every Retraced search that stays within
its budget: the probe (the scope's slot, and the server's taken slots counted in `pg_locks`),
then the budget set and restored around the search in a savepoint. `pg_locks` copies every
lock of the server, so its price grows with the locks other sessions hold: `--sessions`
connections each hold `--locks` advisory locks in an open transaction while a bare
`SELECT 1` and the same `SELECT 1` run through `slow_read` alternate, `--repeat` times each
per round.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_idx_1m DJANGO_SECRET_KEY=x \\
        .venv/bin/python -u bench/slow_read_probe.py --sessions 0,20,40 --locks 20
"""

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kit import django_setup, timed


def _microseconds(call, repeat: int) -> float:
    """Mean microseconds per call (`timed` gives milliseconds per call)."""
    samples, _ = timed(call, repeat)
    return statistics.mean(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="0,20,40", help="comma-separated")
    parser.add_argument("--locks", type=int, default=20, help="advisory locks per session")
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    django_setup()

    import psycopg
    from django.db import connection

    from integration_site.db_limits import slow_read

    def select_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    def guarded() -> None:
        slow_read(
            select_one, using="default", key="bench", budget_ms=1000, busy_budget_ms=100, slots=2
        )

    url = os.environ["DATABASE_URL"]
    print(
        f"{'sessions':>8} {'pg_locks rows':>13} {'SELECT 1 us':>12} {'slow_read us':>13}"
        f" {'extra us':>9}"
    )
    for sessions in (int(n) for n in args.sessions.split(",")):
        holders = []
        try:
            for index in range(sessions):
                holder = psycopg.connect(url)
                for key in range(args.locks):
                    # A namespace of its own: none of the slots'.
                    holder.execute("SELECT pg_advisory_xact_lock(7, %s)", [index * 1000 + key])
                holders.append(holder)
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_locks")
                rows = cursor.fetchone()[0]
            bare, probed = [], []
            for _ in range(args.rounds):
                bare.append(_microseconds(select_one, args.repeat))
                probed.append(_microseconds(guarded, args.repeat))
            bare_us, probe_us = statistics.median(bare), statistics.median(probed)
            print(
                f"{sessions:>8} {rows:>13} {bare_us:>12.0f} {probe_us:>13.0f}"
                f" {probe_us - bare_us:>9.0f}",
                flush=True,
            )
        finally:
            for holder in holders:
                holder.close()


if __name__ == "__main__":
    main()
