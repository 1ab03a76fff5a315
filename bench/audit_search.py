"""
Audit search benchmark (issues 4 and 18): load N audit events into PostgreSQL with COPY, then
time the searches users run (Foreman-compatible /api/audits, the admin changelist, the
Retraced viewer's group-scoped GraphQL search) on the index set in place, and what that index
set costs at ingest. The /api/audits queries that have one also run against a naive DRF
baseline in the same run (icontains SearchFilter over the text fields + exact FilterSet fields
+ PageNumberPagination with an exact COUNT), in-process through DRF (auth forced, JSON rendered).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_idx_1m DJANGO_SECRET_KEY=x \
        .venv/bin/python -u bench/audit_search.py --events 1000000 --repeat 15

`--audits-migration 0018` migrates the audits app to that migration (forwards or backwards)
before measuring, so the index set of any migration can be measured on the same data: run
once at the old migration and once at the newest for a before/after pair. `--no-baseline`
skips the naive baseline, whose scans take seconds each on 10M events; `--only <text>[,<text>...]`
runs the queries whose label contains one of them.

The database must be a scratch one: the script migrates it and, when it holds fewer than
--events rows, drops every secondary index of the event table, COPYs the missing rows and
rebuilds the same indexes (the definitions wait in `bench_saved_indexes` if the load is
interrupted). Bench rows carry placeholder chain hashes (the chain is not what is measured).

Ingest cost: PostgreSQL's own CPU (the backend's user + system time, read from /proc) per
1,000 events COPYed and committed into the event table with the index set in place, and into
an index-free table of the same columns, alternating, in the same run. The measured rows stay
(they fall a week before the data's first day, out of every query below).
"""

import argparse
import io
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kit import (
    AUDIT_EVENT_COPY_COLUMNS,
    django_setup,
    percentile,
    process_cpu_seconds,
    timed,
    values_and_weights,
    zipf_weights,
)

django_setup(
    DJANGO_ALLOW_ASYNC_UNSAFE="true",
    # Loading millions of rows (COPY, index builds) takes minutes: no request time limit here.
    DATABASE_STATEMENT_TIMEOUT_MS="0",
)

import django_filters  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import TextField  # noqa: E402
from django.db.models.functions import Cast  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework import filters, generics, pagination  # noqa: E402
from rest_framework.permissions import AllowAny  # noqa: E402
from rest_framework.test import APIRequestFactory, force_authenticate  # noqa: E402

from audits.counters import audit_counts_roll_up  # noqa: E402
from audits.foreman.serializers import AuditSerializer  # noqa: E402
from audits.foreman.views import AuditViewSet  # noqa: E402
from audits.models import AuditEvent, Host, Location, Organization  # noqa: E402
from audits.retraced.graphql import graphql_execute  # noqa: E402
from audits.retraced.search import (  # noqa: E402
    SearchScope,
    retraced_counted_cruds,
    retraced_query_parse,
)

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 365
# The ingest-cost rows: a week before the data, so no measured query sees them.
INGEST_AT = START - timedelta(days=7)
ACTIONS = [
    ("update", 30),
    ("create", 12),
    ("destroy", 3),
    ("user.login.success", 25),
    ("user.login.failure", 4),
    ("user.logout", 10),
    ("document.share", 6),
    ("settings.update", 3),
    ("release.apply", 1),
    ("sync", 6),
    ("license.revoke", 0.02),  # the rare action: "field equality, few"
]
CRUD = {"create": "c", "destroy": "d", "user.login.success": "r", "user.logout": "r", "sync": "r"}
TYPES = [
    ("Host::Base", 35),
    ("User", 10),
    ("Setting", 5),
    ("Subnet", 5),
    ("Nic::Managed", 5),
    ("Hostgroup", 5),
    ("Document", 20),
    ("", 15),
]
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
    "marketing",
    "plan",
    "quarterly",
]
HOSTS, USERS, LOCATIONS, ORGS, GROUPS = 2000, 500, 20, 5, 300
COLUMNS = AUDIT_EVENT_COPY_COLUMNS
SAVED_INDEXES = "bench_saved_indexes"


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


class EventRows:
    """COPY text for generated events: the load's and the ingest-cost batches' rows."""

    def __init__(self, hosts: list[tuple], seed: int = 4) -> None:
        self.hosts = hosts
        self.rng = random.Random(seed)
        self.actions, self.action_w = values_and_weights(ACTIONS)
        self.types, self.type_w = values_and_weights(TYPES)
        # Zipf: a few users do most things, a few customers (groups) have most events.
        self.user_w = zipf_weights(USERS)
        self.group_w = zipf_weights(GROUPS)

    def text(self, first_id: int, first_seq: int, whens: list[datetime]) -> str:
        rng, n = self.rng, len(whens)
        chosen_actions = rng.choices(self.actions, self.action_w, k=n)
        chosen_types = rng.choices(self.types, self.type_w, k=n)
        chosen_users = rng.choices(range(USERS), self.user_w, k=n)
        chosen_groups = rng.choices(range(GROUPS), self.group_w, k=n)
        buffer = io.StringIO()
        for i, when in enumerate(whens):
            pk = first_id + i
            action, target_type, user = chosen_actions[i], chosen_types[i], chosen_users[i]
            group = chosen_groups[i]
            words = rng.sample(WORDS, 3)
            target_id = target_name = ""
            if target_type == "Host::Base":
                host = self.hosts[rng.randrange(len(self.hosts))]
                target_id, target_name = str(host[0]), host[1]
            elif target_type:
                target_id, target_name = (
                    str(rng.randrange(1, 5000)),
                    f"{target_type.lower()}-{words[0]}",
                )
            changes = (
                f'{{"comment": ["{words[1]}", "{words[2]}"], "build": [false, true]}}'
                if action == "update"
                else f'{{"name": "{target_name or words[0]}"}}'
            )
            values = {
                "id": pk,
                "seq": first_seq + i,
                "source": "site" if target_type == "Host::Base" else "integration",
                "action": action,
                "crud": CRUD.get(action, "u"),
                "name": action.split(".")[0],
                "title": action.replace(".", " ").title(),
                "description": f"user{user} {action} {target_name or words[0]} {' '.join(words)}",
                "actor_type": "User",
                "actor_id": str(user + 1),
                "actor_name": f"user{user}",
                "actor_fields": "{}",
                "target_type": target_type,
                "target_id": target_id,
                "target_name": target_name,
                "target_fields": "{}",
                "project": "default",
                "environment": "production",
                "group_id": f"group-{group}",
                "group_name": f"Customer {group}",
                "version": 1,
                "audited_changes": changes,
                "remote_address": f"10.{user % 250}.{rng.randrange(250)}.{rng.randrange(1, 250)}",
                "request_uuid": f"{pk:032x}",
                "is_failure": "t" if action.endswith("failure") else "f",
                "is_anonymous": "f",
                "fields": "{}",
                "metadata": "{}",
                "created_at": when.isoformat(),
                "received_at": when.isoformat(),
                "prev_hash": "0" * 64,
                "hash": "0" * 64,
            }
            buffer.write("\t".join(_copy_text(values.get(c, "")) for c in COLUMNS) + "\n")
        return buffer.getvalue()


def _ensure_partitions(since: datetime, through: datetime) -> None:
    """Partitions for the rows about to be COPYed, where the table is partitioned (migration
    0019): a row outside every partition would land in the default one."""
    try:
        from audits.partitions import audit_partitions_ensure
    except ImportError:
        return
    audit_partitions_ensure(since=since, through=through)


def _secondary_indexes(cursor) -> list[tuple[str, str]]:
    """(name, definition) of the event table's indexes that back no constraint."""
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename = 'audits_auditevent' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint "
        "WHERE conrelid = 'audits_auditevent'::regclass) ORDER BY indexname"
    )
    return cursor.fetchall()


def _hosts() -> list[tuple]:
    locations = [Location.objects.get_or_create(name=f"Location {i}")[0] for i in range(LOCATIONS)]
    orgs = [Organization.objects.get_or_create(name=f"Organization {i}")[0] for i in range(ORGS)]
    if Host.objects.count() < HOSTS:
        Host.objects.bulk_create(
            [
                Host(
                    name=f"host{i}.example.com",
                    ip=f"10.{i // 250}.{i % 250}.1",
                    location=locations[i % LOCATIONS],
                    organization=orgs[i % ORGS],
                )
                for i in range(HOSTS)
            ],
            ignore_conflicts=True,
        )
    return list(Host.objects.order_by("pk").values_list("pk", "name"))


def migrate(audits_migration: str | None) -> None:
    call_command("migrate", verbosity=0)
    if audits_migration:
        call_command("migrate", "audits", audits_migration, verbosity=0)


def load(target: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {SAVED_INDEXES} (name text, definition text)")
        cursor.execute("SELECT count(*) FROM audits_auditevent WHERE created_at >= %s", [START])
        have = cursor.fetchone()[0]
    if have >= target:
        print(f"data: {have} events already loaded")
        restore_indexes()
        return
    started = time.perf_counter()
    rows = EventRows(_hosts())
    with connection.cursor() as cursor:
        # Building an index once over the loaded rows is far cheaper than maintaining it
        # row by row during COPY; the definitions are kept until they are rebuilt.
        cursor.execute(f"SELECT count(*) FROM {SAVED_INDEXES}")
        if cursor.fetchone()[0] == 0:
            for name, definition in _secondary_indexes(cursor):
                cursor.execute(f"INSERT INTO {SAVED_INDEXES} VALUES (%s, %s)", [name, definition])
        for name, _ in _secondary_indexes(cursor):
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute("SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(id), 0) FROM audits_auditevent")
        seq0, id0 = cursor.fetchone()
    _ensure_partitions(START, START + timedelta(days=DAYS + 1))
    count = target - have
    batch = 100_000
    for offset in range(0, count, batch):
        n = min(batch, count - offset)
        # Times are uniform over the year and drift forward with ids, like real ingest.
        whens = [
            START
            + timedelta(
                seconds=(have + offset + i) / target * DAYS * 86400 + rows.rng.random() * 600
            )
            for i in range(n)
        ]
        data = rows.text(id0 + offset + 1, seq0 + offset + 1, whens)
        sql = f"COPY audits_auditevent ({', '.join(COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            copy.write(data)
        print(
            f"  copied {offset + n}/{count} events ({time.perf_counter() - started:.0f}s)",
            flush=True,
        )
    finish_load()
    restore_indexes()


def finish_load() -> None:
    """Links, sequences and statistics; rerunnable."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Statistics first: the foreign-key checks below are planned from them.
        cursor.execute("ANALYZE audits_auditevent")
        for table, column in (
            ("auditeventlocation", "location_id"),
            ("auditeventorganization", "organization_id"),
        ):
            cursor.execute(f"TRUNCATE audits_{table}")
            cursor.execute(
                f"INSERT INTO audits_{table} (auditevent_id, {column}) "
                f"SELECT e.id, h.{column} FROM audits_auditevent e "
                "JOIN audits_host h ON e.target_id = h.id::text "
                f"WHERE e.target_type = 'Host::Base' AND h.{column} IS NOT NULL"
            )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('audits_auditevent', 'id'), "
            "(SELECT MAX(id) FROM audits_auditevent))"
        )
        cursor.execute(
            "UPDATE audits_auditchainhead SET last_seq = (SELECT MAX(seq) FROM audits_auditevent)"
        )
    print(f"data: linked taxonomies in {time.perf_counter() - started:.0f}s")


def restore_indexes() -> None:
    """Rebuild the indexes the load dropped, then VACUUM (ANALYZE): statistics, and the
    visibility map that lets counts run index-only, as autovacuum keeps them in production."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, definition FROM {SAVED_INDEXES}")
        saved = cursor.fetchall()
        # An index on the partitioned table that holds none of its partitions' (invalid):
        # an earlier version of this script rebuilt pg_indexes' `ON ONLY` definitions as
        # they read.
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'audits_auditevent'::regclass AND NOT i.indisvalid"
        )
        invalid = cursor.fetchall()
        for name, _ in invalid:
            cursor.execute(f"DROP INDEX {name}")
        saved += invalid
        if not saved:
            return
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for name, definition in saved:
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [name])
            if cursor.fetchone() is None:
                # pg_indexes gives a partitioned table's index `ON ONLY` the table; built so,
                # it would cover no partition.
                cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
        cursor.execute(f"DELETE FROM {SAVED_INDEXES}")
        cursor.execute("VACUUM (ANALYZE) audits_auditevent")
        cursor.execute("ANALYZE audits_auditeventlocation, audits_auditeventorganization")
    print(f"data: {len(saved)} indexes rebuilt, vacuumed in {time.perf_counter() - started:.0f}s")


class BaselineFilterSet(django_filters.FilterSet):
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    changes = django_filters.CharFilter(method="filter_changes")

    class Meta:
        model = AuditEvent
        fields = ["action", "actor_name", "target_type", "target_id"]

    def filter_changes(self, queryset, name, value):
        return queryset.alias(c=Cast("audited_changes", TextField())).filter(c__icontains=value)


class BaselineView(generics.ListAPIView):
    """What a first DRF version would do: SearchFilter icontains, exact filters, page numbers."""

    permission_classes = [AllowAny]
    queryset = AuditEvent.objects.prefetch_related("locations", "organizations")
    serializer_class = AuditSerializer
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, filters.SearchFilter]
    filterset_class = BaselineFilterSet
    search_fields = [
        "action",
        "name",
        "title",
        "description",
        "actor_name",
        "target_name",
        "comment",
    ]
    pagination_class = type("Pages", (pagination.PageNumberPagination,), {"page_size": 20})


def api_queries(
    host_id: int, host_name: str, page: int
) -> list[tuple[str, str, dict, dict | None]]:
    """(label, path, /api/audits params, baseline params or None) over the same rows."""
    end = START + timedelta(days=DAYS)
    week = (end - timedelta(days=40), end - timedelta(days=33))
    since = f'time > "{week[0]:%Y-%m-%d}"'
    return [
        ("action = (many)", "", {"search": "action = update"}, {"action": "update"}),
        (
            "action = (40k/1M)",
            "",
            {"search": "action = user.login.failure"},
            {"action": "user.login.failure"},
        ),
        ("action = (few)", "", {"search": "action = license.revoke"}, {"action": "license.revoke"}),
        (
            "action = (none)",
            "",
            {"search": "action = no.such.action"},
            {"action": "no.such.action"},
        ),
        ("user = (many)", "", {"search": "user = user3"}, {"actor_name": "user3"}),
        ("user = (few)", "", {"search": "user = user450"}, {"actor_name": "user450"}),
        ("user = nobody", "", {"search": "user = nobody"}, {"actor_name": "nobody"}),
        ("target = (few)", "", {"search": f"target = {host_name}"}, None),
        ("target = (none)", "", {"search": "target = no-such-host"}, None),
        ("group = (many)", "", {"search": 'group = "Customer 0"'}, None),
        ("group = (few)", "", {"search": 'group = "Customer 290"'}, None),
        ("group = (none)", "", {"search": "group = nobody"}, None),
        ("action ~ login", "", {"search": "action ~ login"}, None),
        ("action ~ (none)", "", {"search": "action ~ nosuchpart"}, None),
        ("description ~ x", "", {"search": "description ~ firewall"}, {"search": "firewall"}),
        ("target ~ host12", "", {"search": "target ~ host12"}, None),
        ("free text", "", {"search": "certificate"}, {"search": "certificate"}),
        ("free text (none)", "", {"search": "zyzzyvas"}, {"search": "zyzzyvas"}),
        ("changes ~ x", "", {"search": "changes ~ quarterly"}, {"changes": "quarterly"}),
        (
            "time range (week)",
            "",
            {"search": f'time >= "{week[0]:%Y-%m-%d}" and time < "{week[1]:%Y-%m-%d}"'},
            {"created_after": week[0].isoformat(), "created_before": week[1].isoformat()},
        ),
        (
            "user+action+time",
            "",
            {"search": f"user = user3 and action = update and {since}"},
            {"actor_name": "user3", "action": "update", "created_after": week[0].isoformat()},
        ),
        (
            "user + action ~",
            "",
            {"search": "user = user450 and action ~ login"},
            None,
        ),
        (
            "action= + free text",
            "",
            {"search": "action = update and firewall"},
            None,
        ),
        (
            "host's audits",
            f"hosts/{host_id}/",
            {},
            {"target_type": "Host::Base", "target_id": str(host_id)},
        ),
        (f"page {page}", "", {"page": page}, {"page": page}),
    ]


ADMIN_QUERIES = [
    ("admin: user = nobody", "user = nobody"),
    ("admin: free text", "certificate"),
    ("admin: action ~", "action ~ login"),
]

# retraced-js `query` with a mask of the node fields the logs viewer shows.
VIEWER_QUERY = """query Search($query: String!, $last: Int, $before: String) {
  search(query: $query, last: $last, before: $before) {
    totalCount, pageInfo { hasPreviousPage }
    edges { cursor node {
      id action description group { id name } actor { id name href }
      target { id name href type } crud received created is_failure } }
  }
}"""


def viewer_queries() -> list[tuple[str, str, SearchScope]]:
    """The logs viewer: one group (its token's), reads hidden unless the query names crud."""

    def group(number: int) -> SearchScope:
        return SearchScope("default", "production", f"group-{number}", hide_reads=True)

    return [
        ("viewer: group (big)", "", group(0)),
        ("viewer: group (small)", "", group(290)),
        ("viewer: group + action", "action:user.login.failure", group(0)),
        ("viewer: group + text", "firewall", group(0)),
        ("viewer: group + text (none)", "zyzzyvas", group(5)),
    ]


def measure_searches(repeat: int, only: str | None, *, baseline: bool) -> None:
    user = get_user_model().objects.filter(
        is_superuser=True
    ).first() or get_user_model().objects.create_superuser("bench", "b@example.com", "x")
    factory = APIRequestFactory(SERVER_NAME="localhost")
    ours_list = AuditViewSet.as_view({"get": "list"})
    baseline_view = BaselineView.as_view()
    host_id, host_name = Host.objects.order_by("pk").values_list("pk", "name")[10]
    total = AuditEvent.objects.count()
    print(f"\n{total} events, repeat={repeat}; ms (p50 / p95)")
    print(
        f"{'query':28} {'ours p50':>9} {'p95':>7} | {'base p50':>9} {'p95':>7} | "
        f"{'ratio p50':>9}  matched"
    )

    def report(label, mine, theirs, matched):
        mine_p50, mine_p95 = percentile(mine, 0.5), percentile(mine, 0.95)
        base = (
            f"{percentile(theirs, 0.5):9.1f} {percentile(theirs, 0.95):7.1f} | "
            f"{percentile(theirs, 0.5) / mine_p50:8.1f}x"
            if theirs
            else f"{'—':>9} {'—':>7} | {'—':>9}"
        )
        print(f"{label:28} {mine_p50:9.1f} {mine_p95:7.1f} | {base}  {matched}", flush=True)

    def wanted(label: str) -> bool:
        return only is None or any(part in label for part in only.split(","))

    for label, path, ours_params, base_params in api_queries(
        host_id, host_name, min(5000, total // 20)
    ):
        if not wanted(label):
            continue

        def ours(path=path, ours_params=ours_params):
            request = factory.get(f"/api/{path}audits", ours_params)
            force_authenticate(request, user=user)
            kwargs = {"host_id": str(host_id)} if path else {}
            response = ours_list(request, **kwargs)
            response.render()
            return response

        def base(base_params=base_params):
            request = factory.get("/baseline", base_params)
            response = baseline_view(request)
            response.render()
            return response

        mine, our_response = timed(ours, repeat)
        assert our_response.status_code == 200, our_response.data
        theirs = None
        if baseline and base_params is not None:
            theirs, base_response = timed(base, repeat)
            assert base_response.status_code == 200, base_response.data
        report(label, mine, theirs, our_response.data["subtotal"])

    # The admin's pages name static files; the hashed manifest exists only after collectstatic.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    for label, query in ADMIN_QUERIES:
        if not wanted(label):
            continue

        def admin_page(query=query):
            response = client.get("/admin/audits/auditevent/", {"q": query})
            assert response.status_code == 200
            return response

        mine, _ = timed(admin_page, repeat)
        report(label, mine, None, "")

    viewer_queries_wanted = [query for query in viewer_queries() if wanted(query[0])]
    if viewer_queries_wanted:
        # The scope counters answer the viewer's opening totalCount once rolled up: what
        # the worker's minute-by-minute roll-up has done on a live site.
        started = time.perf_counter()
        rolled = audit_counts_roll_up()
        print(
            f"(rolled {rolled} events up into the counters in {time.perf_counter() - started:.1f} s)"
        )
    for label, text, scope in viewer_queries_wanted:
        mine, body = timed(lambda text=text, scope=scope: _viewer(text, scope), repeat)
        theirs = None
        if retraced_counted_cruds(scope, retraced_query_parse(text)) is not None:
            # Base: the same search with its totalCount counted (the code before 0022).
            with patch("audits.retraced.graphql.retraced_counted_cruds", return_value=None):
                theirs, exact = timed(lambda text=text, scope=scope: _viewer(text, scope), repeat)
            assert exact["data"]["search"]["totalCount"] == body["data"]["search"]["totalCount"]
        report(label, mine, theirs, body["data"]["search"]["totalCount"])
        if theirs:
            _viewer_with_a_tail(label, text, scope, repeat, report)


TAIL_EVENTS = 60_000  # a minute between roll-ups at 1,000 events/s


def _viewer(text: str, scope: SearchScope) -> dict:
    body, status = graphql_execute(
        query=VIEWER_QUERY, variables={"query": text, "last": 20}, operation_name=None, scope=scope
    )
    assert status == 200, body
    return body


def _viewer_with_a_tail(label, text, scope, repeat, report) -> None:
    """The counted search again with TAIL_EVENTS linked events after the watermark (the
    worst a minute's roll-up interval leaves at 1,000 events/s), in a transaction rolled back."""
    rows = EventRows(_hosts(), seed=60)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(MAX(id), 0), COALESCE(MAX(seq), 0) FROM audits_auditevent"
            )
            id0, seq0 = cursor.fetchone()
        whens = [INGEST_AT + timedelta(seconds=i / 1000) for i in range(TAIL_EVENTS)]
        _ensure_partitions(INGEST_AT - timedelta(days=1), INGEST_AT + timedelta(days=1))
        sql = f"COPY audits_auditevent ({', '.join(COLUMNS)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            copy.write(rows.text(id0 + 1, seq0 + 1, whens))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE audits_auditevent")
        mine, body = timed(lambda: _viewer(text, scope), repeat)
        with patch("audits.retraced.graphql.retraced_counted_cruds", return_value=None):
            theirs, exact = timed(lambda: _viewer(text, scope), repeat)
        assert exact["data"]["search"]["totalCount"] == body["data"]["search"]["totalCount"]
        report(
            f"  + {TAIL_EVENTS // 1000}k tail", mine, theirs, body["data"]["search"]["totalCount"]
        )
        transaction.set_rollback(True)


def measure_ingest(batches: int) -> None:
    """PostgreSQL CPU per 1,000 events COPYed (and committed) into the event table as it is
    indexed, and into an index-free table of the same columns, alternating in one run."""
    rows = EventRows(_hosts(), seed=18)
    _ensure_partitions(INGEST_AT - timedelta(days=1), INGEST_AT + timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_unindexed")
        cursor.execute("CREATE TABLE bench_unindexed (LIKE audits_auditevent INCLUDING DEFAULTS)")
        cursor.execute("SELECT pg_backend_pid(), COALESCE(MAX(id), 0) FROM audits_auditevent")
        pid, id0 = cursor.fetchone()
        cursor.execute("SELECT COALESCE(MAX(seq), 0) FROM audits_auditevent")
        seq0 = cursor.fetchone()[0]
        indexes = len(_secondary_indexes(cursor))
    cpu = {"audits_auditevent": [], "bench_unindexed": []}
    wall = {"audits_auditevent": [], "bench_unindexed": []}
    for batch in range(batches):
        first = id0 + 1 + batch * 1000
        whens = [INGEST_AT + timedelta(seconds=batch * 60 + i / 20) for i in range(1000)]
        data = rows.text(first, seq0 + 1 + batch * 1000, whens)
        for table in cpu:
            sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
            before, started = process_cpu_seconds(pid), time.perf_counter()
            with connection.cursor() as cursor, cursor.copy(sql) as copy:
                copy.write(data)
            wall[table].append(time.perf_counter() - started)
            cpu[table].append(process_cpu_seconds(pid) - before)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_unindexed")
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('audits_auditevent', 'id'), "
            "(SELECT MAX(id) FROM audits_auditevent))"
        )
        cursor.execute(
            "UPDATE audits_auditchainhead SET last_seq = (SELECT MAX(seq) FROM audits_auditevent)"
        )
    # The CPU clock ticks at 10 ms: a few batches into the bare table may read as none.
    tick = 1000 / os.sysconf("SC_CLK_TCK")
    indexed = max(sum(cpu["audits_auditevent"]) / batches * 1000, tick / batches)
    bare = max(sum(cpu["bench_unindexed"]) / batches * 1000, tick / batches)
    print(
        f"\ningest, {batches} COPYs of 1,000 events each, committed: PostgreSQL backend CPU per "
        f"1,000 events {indexed:.1f} ms with the index set ({indexes} secondary indexes + "
        f"constraints), {bare:.1f} ms into an index-free table; ratio {indexed / bare:.2f}x. "
        f"Wall medians {statistics.median(wall['audits_auditevent']) * 1000:.1f} / "
        f"{statistics.median(wall['bench_unindexed']) * 1000:.1f} ms. Two cores doing nothing "
        f"else could absorb at most {2 * 1000 / indexed * 1000:,.0f} events/s into the table."
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--audits-migration",
        help="migrate the audits app to this migration first (e.g. 0018: its index set)",
    )
    parser.add_argument("--ingest-batches", type=int, default=30, help="0 to skip")
    parser.add_argument(
        "--only", help="run only the queries whose label contains one of these (comma-separated)"
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the naive DRF baseline (its icontains scans take seconds each on 10M events)",
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/audit_search.py needs DATABASE_URL=postgres://...")
    migrate(args.audits_migration)
    load(args.events)
    measure_searches(args.repeat, args.only, baseline=not args.no_baseline)
    if args.ingest_batches:
        measure_ingest(args.ingest_batches)


if __name__ == "__main__":
    main()
