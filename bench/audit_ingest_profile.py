"""
Where one bulk request's time goes (issue 18 §4), per 1,000 events, in process: the steps of
`POST /audit/v1/event/bulk` after authentication, one after another in the order
audits.services and audits.chain run them, each timed in wall time and in this process's
CPU time. Wall time beyond CPU time is waiting, mostly for PostgreSQL: the COPY step's is
PostgreSQL maintaining the table's indexes while this request holds the chain head lock.
The batches are stored and linked for real (the chain verifies afterwards).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_ingest .venv/bin/python bench/audit_ingest_profile.py --batches 20
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.audit_ingest import EVENT  # noqa: E402 (after the path that finds it)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--verify", action="store_true", help="walk the whole chain afterwards")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret")
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from audits import chain, services
    from audits.chain import audit_chain_verify
    from audits.context import current_audit_context
    from audits.ingest import event_validate
    from integration_site.parsers import json_parse

    body = json.dumps(
        {"events": [{**EVENT, "action": f"bulk.event.{i % 50}"} for i in range(1000)]}
    ).encode()
    steps: dict[str, list[tuple[float, float]]] = {}
    under_lock = {"link pending", "chain hashes", "COPY", "head update", "COMMIT"}

    class step:
        def __init__(self, name: str):
            self.name = name

        def __enter__(self):
            self.wall, self.cpu = time.perf_counter(), time.process_time()

        def __exit__(self, *exc):
            steps.setdefault(self.name, []).append(
                (time.perf_counter() - self.wall, time.process_time() - self.cpu)
            )

    for _ in range(args.batches):
        with step("parse JSON"):
            payload = json_parse(body, values_checked_by_caller=True)
        with step("validate"):
            valid = [event_validate(item) for item in payload["events"]]
        with step("build events"):
            built = services._ingested_build(
                valid, "127.0.0.1", current_audit_context(), timezone.now()
            )
        with transaction.atomic():
            with step("ids + COPY text"):
                persist = services.copy_prepare(built)
            with step("canonical JSON"):
                canonicals = chain.canonical_many(built)
            with step("head lock"):
                head = chain.chain_head_locked()
            with step("link pending"):
                chain.chain_link_pending_locked(head)
            with step("chain hashes"):
                prev, seq = head.last_hash, head.last_seq
                for event, text in zip(built, canonicals, strict=True):
                    seq += 1
                    event.seq, event.prev_hash = seq, prev
                    prev = event.hash = chain.chain_hash(prev, text)
            with step("COPY"):
                persist(built)
            with step("head update"):
                head.last_seq, head.last_hash = seq, prev
                head.save(update_fields=["last_seq", "last_hash"])
            commit = step("COMMIT")
            commit.__enter__()
        commit.__exit__()
        with step("answer"):
            json.dumps([{"id": e.pk, "hash": e.hash} for e in built])

    print(f"{'step (per 1,000 events)':<24} {'wall ms':>8} {'CPU ms':>8}  lock")
    totals = {True: [0.0, 0.0], False: [0.0, 0.0]}
    for name, timings in steps.items():
        wall = statistics.median(t[0] for t in timings) * 1000
        cpu = statistics.median(t[1] for t in timings) * 1000
        locked = name in under_lock
        totals[locked][0] += wall
        totals[locked][1] += cpu
        print(f"{name:<24} {wall:8.1f} {cpu:8.1f}  {'held' if locked else ''}")
    for locked, (wall, cpu) in totals.items():
        label = "under the head lock" if locked else "outside it"
        print(f"{label:<24} {wall:8.1f} {cpu:8.1f}")
    print(
        f"median of {args.batches} batches; the head lock is held "
        f"{totals[True][0]:.1f} ms per 1,000 events: at most "
        f"{1000 / totals[True][0] * 1000:,.0f} events/s through one chain head."
    )
    if args.verify:
        print(audit_chain_verify(link_pending=False).message)


if __name__ == "__main__":
    main()
