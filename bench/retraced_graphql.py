"""
Retraced GraphQL search benchmark (issue 15): load N Retraced-shaped events into PostgreSQL
with COPY, then time `graphql_execute` (what every GraphQL route runs) on retraced-js's
`query` (last: 20, totalCount, every node field it knows) plus the JSON encoding of the
answer, in-process, against a baseline measured in the same run: the page's own SELECT (same
WHERE, ORDER BY and LIMIT) run bare on the cursor: no count, no GraphQL, no JSON.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retraced_bench DJANGO_SECRET_KEY=x \
        .venv/bin/python -u bench/retraced_graphql.py --events 1000000 --repeat 20

The database must be a scratch one: the script migrates it and COPYs the missing rows (with
placeholder chain hashes: the chain is not what is measured).
"""

import argparse
import io
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kit import (
    AUDIT_EVENT_COPY_COLUMNS,
    django_setup,
    percentile,
    timed,
    values_and_weights,
    zipf_weights,
)

django_setup(
    DJANGO_ALLOW_ASYNC_UNSAFE="true",
    # Loading a million rows takes minutes: no request time limit here.
    DATABASE_STATEMENT_TIMEOUT_MS="0",
)

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from audits.models import AuditEvent  # noqa: E402
from audits.retraced.graphql import graphql_execute, page_from_args, page_window  # noqa: E402
from audits.retraced.search import (  # noqa: E402
    SearchScope,
    retraced_events_search,
    retraced_query_parse,
)

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 365
ACTIONS = [
    ("user.login", 30),
    ("user.logout", 15),
    ("document.view", 20),
    ("document.edit", 12),
    ("document.share", 4),
    ("document.delete", 2),
    ("billing.invoice.create", 3),
    ("billing.plan.update", 1),
    ("settings.update", 3),
    ("api_key.create", 1),
    ("user.invite", 2),
    ("report.export", 7),
]
CRUD = {"view": "r", "export": "r", "login": "c", "logout": "c", "create": "c", "invite": "c"}
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "release",
    "deploy",
    "backup",
    "network",
    "storage",
    "kernel",
    "patch",
    "reboot",
    "firewall",
    "ldap",
    "certificate",
    "quota",
    "invoice",
    "report",
    "finance",
    "plan",
]
GROUPS, ACTORS, TARGETS = 1000, 5000, 50_000
# The rows below carry no Foreman version: it stays NULL.
COLUMNS = [column for column in AUDIT_EVENT_COPY_COLUMNS if column != "version"]
# retraced-js `query` with a mask of every node field it knows (src/graphql.ts graphQLQuery).
RETRACED_JS_QUERY = """query Search($query: String!, $last: Int, $before: String) {
  search(query: $query, last: $last, before: $before) {
    totalCount, pageInfo { hasPreviousPage }
    edges { cursor node {
      id action description group { id name } actor { id name href fields { key value } }
      target { id name href type fields { key value } } crud display { markdown }
      received created canonical_time is_failure is_anonymous country component version
      fields { key value } external_id metadata { key value } } }
  }
}"""


def load(target: int) -> None:
    call_command("migrate", verbosity=0)
    have = AuditEvent.objects.count()
    if have >= target:
        print(f"data: {have} events already loaded")
        vacuum()
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(id), 0) FROM audits_auditevent")
        seq0, id0 = cursor.fetchone()
    rng = random.Random(15)
    actions, action_weights = values_and_weights(ACTIONS)
    count, batch = target - have, 100_000
    for offset in range(0, count, batch):
        n = min(batch, count - offset)
        chosen_actions = rng.choices(actions, action_weights, k=n)
        groups = rng.choices(range(GROUPS), zipf_weights(GROUPS), k=n)
        actors = rng.choices(range(ACTORS), zipf_weights(ACTORS), k=n)
        buffer = io.StringIO()
        for i in range(n):
            pk = id0 + offset + i + 1
            action, group, actor = chosen_actions[i], groups[i], actors[i]
            # Times spread over the year and drift forward with ids, like real ingest.
            when = START + timedelta(seconds=(offset + i) / count * DAYS * 86400)
            received = when + timedelta(milliseconds=rng.randrange(50, 2000))
            target = rng.randrange(TARGETS)
            words = " ".join(rng.sample(WORDS, 3))
            row = [
                pk,
                seq0 + offset + i + 1,
                "integration",
                action,
                CRUD.get(action.rsplit(".", 1)[-1], "u"),
                "",
                "",
                f"user{actor} {action} document {target} {words}",
                "Integration",
                f"user-{actor}",
                f"User {actor}",
                "",
                "{}",
                "document",
                f"doc-{target}",
                f"Document {target} {words.split()[0]}",
                "",
                "{}",
                "",
                "",
                "",
                "default",
                "production",
                f"group-{group}",
                f"Customer {group}",
                "{}",
                "",
                f"10.{actor % 250}.{rng.randrange(250)}.{rng.randrange(1, 250)}",
                "",
                "f",
                "f",
                json.dumps({"plan": rng.choice(["free", "pro", "enterprise"])}),
                "{}",
                "",
                "web",
                "",
                when.isoformat(),
                received.isoformat(),
                "0" * 64,
                "0" * 64,
                f"{pk:032x}",
                "0" * 64,
            ]
            buffer.write("\t".join(str(value) for value in row) + "\n")
        sql = f"COPY audits_auditevent ({', '.join(COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            copy.write(buffer.getvalue())
        print(f"  copied {offset + n}/{count} ({time.perf_counter() - started:.0f}s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('audits_auditevent', 'id'), "
            "(SELECT MAX(id) FROM audits_auditevent))"
        )
        cursor.execute(
            "UPDATE audits_auditchainhead SET last_seq = (SELECT MAX(seq) FROM audits_auditevent)"
        )
    vacuum()
    print(f"data: loaded in {time.perf_counter() - started:.0f}s")


def vacuum() -> None:
    """Statistics, and the visibility map that lets counts run index-only: what autovacuum
    keeps for an insert-mostly table (PostgreSQL 13+ vacuums on inserts too)."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) audits_auditevent")


def queries() -> list[tuple[str, str, SearchScope]]:
    """(label, Retraced query, scope): the indexed fields first, then free text."""
    publisher = SearchScope("default", "production")
    week = START + timedelta(days=200)
    return [
        ("action", "action:document.share", publisher),
        ("action prefix", "action:billing.*", publisher),
        ("actor.id", "actor.id:user-40", publisher),
        ("target.id", "target.id:doc-4242", publisher),
        ("group (viewer)", "", SearchScope("default", "production", "group-7", hide_reads=True)),
        (
            "received range (1 week)",
            f"received:{week:%Y-%m-%d},{week + timedelta(days=7):%Y-%m-%d}",
            publisher,
        ),
        ("group + action", "action:document.edit", SearchScope("default", "production", "group-3")),
        ("free text", "certificate firewall", publisher),
        ("description words", 'description:"kernel patch"', publisher),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/retraced_graphql.py needs DATABASE_URL=postgres://...")
    load(args.events)
    print(f"\n{AuditEvent.objects.count()} events, repeat={args.repeat}; ms")
    print(
        f"{'query':24} {'ours p50':>9} {'p95':>7} | {'bare p50':>9} {'p95':>7} | "
        f"{'p95 ratio':>9}  totalCount"
    )
    for label, text, scope in queries():

        def ours(text=text, scope=scope):
            body, status = graphql_execute(
                query=RETRACED_JS_QUERY,
                variables={"query": text, "last": 20},
                operation_name=None,
                scope=scope,
            )
            assert status == 200, body
            return body, json.dumps(body)

        query = retraced_query_parse(text)
        page = page_window(
            retraced_events_search(scope, query),
            page_from_args({"last": 20}),
            sort_matches=query.names_received,
        )
        page_sql = page.values_list("id")[:21].query.sql_with_params()
        count_sql = retraced_events_search(scope, query).values("id").query.sql_with_params()
        count_sql = (f"SELECT COUNT(*) FROM ({count_sql[0]}) matches", count_sql[1])

        def bare(statements=(page_sql, count_sql)):
            with connection.cursor() as cursor:
                for sql, params in statements:
                    cursor.execute(sql, params)
                    cursor.fetchall()

        mine, (body, _encoded) = timed(ours, args.repeat)
        theirs, _rows = timed(bare, args.repeat)
        total = body["data"]["search"]["totalCount"]
        print(
            f"{label:24} {percentile(mine, 0.5):9.1f} {percentile(mine, 0.95):7.1f} | "
            f"{percentile(theirs, 0.5):9.1f} {percentile(theirs, 0.95):7.1f} | "
            f"{percentile(mine, 0.95) / percentile(theirs, 0.95):8.1f}x  {total}",
            flush=True,
        )


if __name__ == "__main__":
    main()
