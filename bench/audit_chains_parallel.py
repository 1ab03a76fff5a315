"""
A chain per project, measured through the real code (issue 18 §5): `--workers` processes
append linked batches of 1,000 events (`audit_events_append`, the COPY path of bulk ingest)
as fast as they can for `--seconds`, either all into the default project's chain or half of
them into a second project's, which links under its own head. The two layouts alternate
`--rounds` times on the same database, so each ratio is of one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_chains DJANGO_SECRET_KEY=x \\
        .venv/bin/python -u bench/audit_chains_parallel.py --workers 4 --seconds 20 --rounds 3

Prints events/s per layout and round, and the median ratio two chains / one chain. The database is migrated first; it grows with every
round (the production indexes are maintained on every COPY).
"""

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kit import migrated_django_setup, site_environment

BATCH = 1000


def _worker(project: str, seconds: float, start_at: float, results) -> None:
    import django

    django.setup()
    from django.db import connection, transaction

    from audits.services import audit_event_build, audit_events_append

    def batch(number: int) -> list:
        events = []
        for index in range(BATCH):
            event = audit_event_build(
                action=f"bench.parallel.{index % 50}",
                description=f"{project} batch {number} event {index}",
                group_id=f"group-{index % 20}",
            )
            event.project = project
            events.append(event)
        return events

    time.sleep(max(0.0, start_at - time.time()))
    stored = 0
    end = time.monotonic() + seconds
    number = 0
    while time.monotonic() < end:
        events = batch(number)
        number += 1
        with transaction.atomic():
            audit_events_append(events)
        stored += len(events)
    connection.close()
    results.put((project, stored))


def layout(projects: list[str], seconds: float) -> float:
    """events/s of all workers together."""
    context = multiprocessing.get_context("spawn")  # a fork would share the pool's connections
    results = context.Queue()
    start_at = time.time() + 8.0  # every process started and set up before the clock starts
    processes = [
        context.Process(target=_worker, args=(project, seconds, start_at, results))
        for project in projects
    ]
    for process in processes:
        process.start()
    rows = [results.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join()
    return sum(stored for _, stored in rows) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    migrated_django_setup(
        site_environment(database="bench_chains", settings_module="integration_site.settings")
    )
    from django.db import connection

    from audits.chain import chain_of_project

    if connection.vendor != "postgresql":
        sys.exit("bench/audit_chains_parallel.py needs DATABASE_URL=postgres://...")
    chain_of_project("acme")  # made once, outside the timed phases
    connection.close()
    half = args.workers // 2
    one = ["default"] * args.workers
    two = ["default"] * (args.workers - half) + ["acme"] * half
    ratios = []
    print(
        f"{args.workers} worker processes, {BATCH} events per linked append, {args.seconds:.0f} s each"
    )
    for round_ in range(1, args.rounds + 1):
        rate_one = layout(one, args.seconds)
        rate_two = layout(two, args.seconds)
        ratios.append(rate_two / rate_one)
        print(
            f"round {round_}: one chain {rate_one:8.0f} events/s"
            f" | two chains {rate_two:8.0f} events/s"
            f" | {rate_two / rate_one:.2f}x",
            flush=True,
        )
    print(
        f"two chains / one chain, median of {args.rounds} rounds: {statistics.median(ratios):.2f}x"
    )


if __name__ == "__main__":
    main()
