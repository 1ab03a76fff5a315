"""
Retraced viewer benchmark (issue 15): what the embedded widget's calls cost through the whole
request path (middleware, the viewer-session JWT and its revocation check, the group-scoped
GraphQL search, the recorded view), and how fast a saved export streams its CSV.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/viewer_bench DJANGO_SECRET_KEY=x \
        .venv/bin/python -u bench/retraced_viewer.py --events 50000 --repeat 50

The database must be a scratch one: the script migrates it and adds the missing events of
the group `acme` (and as many of another group, which the viewer must never see).
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")
os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT_MS", "0")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from audits.context import AuditActor  # noqa: E402
from audits.models import ActorType, AuditEvent  # noqa: E402
from audits.retraced.viewer_services import viewer_token_create  # noqa: E402
from audits.services import audit_event_build, audit_events_append  # noqa: E402

SEARCH = """query Search($query: String!, $last: Int, $before: String) {
  search(query: $query, last: $last, before: $before) {
    totalCount pageInfo { hasPreviousPage }
    edges { cursor node { id action crud created received canonical_time description
      actor { id name href } group { id name } target { id name href type }
      display { markdown } is_failure is_anonymous source_ip country loc_subdiv1 loc_subdiv2 } }
  }
}"""
START = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 1000


def load(events: int) -> None:
    for group in ("acme", "globex"):
        have = AuditEvent.objects.filter(group_id=group).count()
        for offset in range(have, events, BATCH):
            batch = []
            for index in range(offset, min(offset + BATCH, events)):
                event = audit_event_build(
                    action=("user.login", "document.edit", "document.view")[index % 3],
                    crud="cur"[index % 3],
                    actor=AuditActor(type=ActorType.INTEGRATION, id=f"u{index % 97}", name="Jo"),
                    group_id=group,
                    description=f"event {index}",
                    created_at=START + timedelta(seconds=index * 30),
                )
                batch.append(event)
            audit_events_append(batch)


def timed(call, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(
        f"{name}: p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms ({len(ordered)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000, help="events per group")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    load(args.events)
    print(f"{connection_vendor()}: {args.events} events in group acme, as many in globex")

    client = Client(HTTP_HOST="localhost")
    token = viewer_token_create(
        project="default", environment="production", group_id="acme", actor_id="bench"
    )
    session = client.post(
        "/viewer/v1/viewersession", {"token": token}, content_type="application/json"
    ).json()["token"]
    body = {"query": SEARCH, "variables": {"query": "", "last": 20}}

    def search(path: str) -> None:
        response = client.post(
            path, body, content_type="application/json", HTTP_AUTHORIZATION=session
        )
        assert response.status_code == 200, response.content

    search("/viewer/v1/graphql")  # warm
    report(
        "viewer graphql last:20, view recorded",
        timed(lambda: search("/viewer/v1/graphql"), args.repeat),
    )
    report(
        "viewer graphql last:20, skipViewLogEvent",
        timed(lambda: search("/viewer/v1/graphql?skipViewLogEvent=true"), args.repeat),
    )

    settings.RETRACED_EXPORT_MAX_ROWS = args.events
    export = client.post(
        "/viewer/v1/project/default/export",
        {
            "name": "all",
            "exportBody": {
                "version": 1,
                "showCreate": True,
                "showRead": True,
                "showUpdate": True,
                "showDelete": True,
            },
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=session,
    ).json()["id"]
    began = time.perf_counter()
    response = client.get(
        f"/viewer/v1/project/default/export/{export}/rendered", HTTP_AUTHORIZATION=session
    )
    size = rows = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        rows += chunk.count(b"\n")
    elapsed = time.perf_counter() - began
    print(
        f"CSV export: {rows - 1} rows, {size / 1e6:.1f} MB in {elapsed:.2f} s "
        f"({(rows - 1) / elapsed:,.0f} rows/s)"
    )


def connection_vendor() -> str:
    from django.db import connection

    return connection.vendor


if __name__ == "__main__":
    main()
