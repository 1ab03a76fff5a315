"""
Retraced publisher benchmark (issue 15, section 6): single-event
`POST /publisher/v1/project/default/event` at 16 concurrent clients, as a ratio of the same
bare-Django ceiling `bench/audit_ingest.py` measures the Replicated ingest against (one
INSERT per request, bench/audit_ingest_urls.py), with the Replicated `POST /audit/v1/event`
in the same run for comparison. Target: publish >= 60 % of the ceiling.

The harness is bench/audit_ingest.py's (gunicorn in the production configuration, the
worker linking pending events alongside, one asyncio load generator): this script only
chooses the requests. It ends by checking a published receipt against
audits.retraced.hashing and with `audit_verify`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h15bench BENCH_PORT=8764 \\
        .venv/bin/python -u bench/retraced_publish.py
"""

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.audit_ingest import (
    EVENT as REPLICATED_EVENT,
)
from bench.audit_ingest import (
    env,
    load,
    pending_events,
    prepare,
    report,
    start_gunicorn,
    start_worker,
    wait_for_linking,
)
from bench.kit import audit_verify_summary, stop_process_groups

# What retraced-js reportEvent sends for a login: its body keys, a group, an actor.
RETRACED_EVENT = {
    "action": "user.login.success",
    "crud": "c",
    "group": {"id": "acme-corp", "name": "Acme Corp"},
    "actor": {"id": "john@example.com", "name": "John"},
    "source_ip": "192.30.252.12",
    "description": "john@example.com logged in successfully",
    "created": "2026-12-07T01:00:00.000Z",
    "is_failure": False,
    "is_anonymous": False,
}
PUBLISH_PATH = "/publisher/v1/project/default/event"


async def one_receipt(path: str, body: bytes, headers: dict[str, str]) -> dict:
    from bench.audit_ingest import PORT

    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()] + ["Connection: close", "", ""]
    writer.write("\r\n".join(head).encode() + body)
    response = await reader.read()
    writer.close()
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="alternate ceiling/publish runs")
    args = parser.parse_args()

    secret = prepare()
    retraced_auth = {"Authorization": f"token={secret}", "Content-Type": "application/json"}
    bearer_auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    body = json.dumps(RETRACED_EVENT).encode()
    replicated_body = json.dumps(REPLICATED_EVENT).encode()
    gunicorn = start_gunicorn()
    worker = start_worker()

    def phase(label: str, path: str, payload: bytes, headers: dict, seconds: float) -> float:
        return report(
            label, *asyncio.run(load(path, payload, headers, clients=args.clients, seconds=seconds))
        )

    try:
        # Warm every worker (imports, pool connections, the fast path's route cache).
        asyncio.run(load(PUBLISH_PATH, body, retraced_auth, clients=args.clients, seconds=3))
        asyncio.run(load("/bench/audit-ceiling", body, {}, clients=args.clients, seconds=2))
        ceilings, fast_ceilings, publishes, ingests = [], [], [], []
        for round_ in range(args.rounds):
            print(f"-- round {round_ + 1}: {args.clients} clients, {args.seconds:.0f} s each")
            ceilings.append(
                phase("ceiling (1 INSERT/request)", "/bench/audit-ceiling", body, {}, args.seconds)
            )
            fast_ceilings.append(
                phase(
                    "ceiling at the fast path",
                    "/bench/audit-fast-ceiling",
                    body,
                    bearer_auth,
                    args.seconds,
                )
            )
            publishes.append(
                phase(f"POST {PUBLISH_PATH}", PUBLISH_PATH, body, retraced_auth, args.seconds)
            )
            ingests.append(
                phase(
                    "POST /audit/v1/event",
                    "/audit/v1/event",
                    replicated_body,
                    bearer_auth,
                    args.seconds,
                )
            )
        ceiling, publish = statistics.median(ceilings), statistics.median(publishes)
        print(f"retraced publish / ceiling: {publish / ceiling:.0%} (target >= 60%)")
        print(
            f"retraced publish / the same INSERT at the fast path: "
            f"{publish / statistics.median(fast_ceilings):.0%}"
        )
        print(
            f"retraced publish / Replicated ingest (same run): "
            f"{publish / statistics.median(ingests):.0%}"
        )

        receipt = asyncio.run(one_receipt(PUBLISH_PATH, body, retraced_auth))
        from audits.retraced.hashing import compute_hash

        matches = compute_hash(RETRACED_EVENT, receipt["id"]) == receipt["hash"]
        print(f"a receipt checked as retraced-js checks it: {'ok' if matches else 'MISMATCH'}")

        backlog, waited = wait_for_linking()
        print(
            f"pending after the run: {backlog}; linked by the worker in "
            f"{waited:.1f} s (left: {pending_events()})"
        )
        print(f"audit_verify after the run: {audit_verify_summary(env())}")
    finally:
        stop_process_groups([worker, gunicorn])


if __name__ == "__main__":
    main()
