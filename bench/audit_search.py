"""
Audit search benchmark (issue 4): load N audit events into PostgreSQL with COPY, then time
the Foreman-compatible /api/audits against a naive DRF baseline (icontains SearchFilter over
the text fields + exact FilterSet fields + PageNumberPagination with an exact COUNT), in the
same run, in-process through DRF (auth forced, JSON rendered).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/audit_bench DJANGO_SECRET_KEY=x \
        .venv/bin/python bench/audit_search.py --events 1000000 --repeat 15

The database must be a scratch one: the script migrates it and, when it holds fewer than
--events rows, drops the search indexes, COPYs the missing rows and rebuilds them. Bench rows
carry placeholder chain hashes (the chain is not what is measured).
"""

import argparse
import importlib
import io
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# Loading a million rows (COPY, index builds) takes minutes: no request time limit here.
os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT_MS", "0")

import django

django.setup()

import django_filters  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import TextField  # noqa: E402
from django.db.models.functions import Cast  # noqa: E402
from rest_framework import filters, generics, pagination  # noqa: E402
from rest_framework.permissions import AllowAny  # noqa: E402
from rest_framework.test import APIRequestFactory, force_authenticate  # noqa: E402

from audits.foreman.serializers import AuditSerializer  # noqa: E402
from audits.foreman.views import AuditViewSet  # noqa: E402
from audits.models import AuditEvent, Host, Location, Organization  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 365
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
]
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
HOSTS, USERS, LOCATIONS, ORGS = 2000, 500, 20, 5
SEARCH_INDEXES = [
    "audit_name_trgm",
    "audit_description_trgm",
    "audit_actor_name_trgm",
    "audit_target_name_trgm",
    "audit_action_trgm",
    "audit_comment_trgm",
    "audit_changes_trgm",
    "audit_created_brin",
    "audit_actor_action_time",
]


def _weighted(pairs):
    values, weights = zip(*pairs, strict=True)
    return values, weights


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def load(target: int) -> None:
    call_command("migrate", verbosity=0)
    have = AuditEvent.objects.count()
    if have >= target:
        print(f"data: {have} events already loaded")
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'audit_changes_trgm'")
            if cursor.fetchone() is None:
                finish_load()
        return
    started = time.perf_counter()
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
    hosts = list(Host.objects.values_list("pk", "name", "location_id", "organization_id"))
    with connection.cursor() as cursor:
        for name in SEARCH_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        cursor.execute("SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(id), 0) FROM audits_auditevent")
        seq0, id0 = cursor.fetchone()
    rng = random.Random(4)
    actions, action_w = _weighted(ACTIONS)
    types, type_w = _weighted(TYPES)
    user_w = [1 / (rank + 1) for rank in range(USERS)]  # Zipf: a few users do most things
    columns = [
        "id",
        "seq",
        "source",
        "action",
        "crud",
        "name",
        "title",
        "description",
        "actor_type",
        "actor_id",
        "actor_name",
        "actor_href",
        "target_type",
        "target_id",
        "target_name",
        "target_href",
        "associated_type",
        "associated_id",
        "associated_name",
        "group_id",
        "group_name",
        "version",
        "audited_changes",
        "comment",
        "remote_address",
        "request_uuid",
        "is_failure",
        "is_anonymous",
        "fields",
        "metadata",
        "external_id",
        "component",
        "component_version",
        "created_at",
        "received_at",
        "prev_hash",
        "hash",
    ]
    count = target - have
    batch = 100_000
    for offset in range(0, count, batch):
        buffer = io.StringIO()
        n = min(batch, count - offset)
        chosen_actions = rng.choices(actions, action_w, k=n)
        chosen_types = rng.choices(types, type_w, k=n)
        chosen_users = rng.choices(range(USERS), user_w, k=n)
        for i in range(n):
            pk = id0 + offset + i + 1
            action, target_type, user = chosen_actions[i], chosen_types[i], chosen_users[i]
            # Times are uniform over the year and drift forward with ids, like real ingest.
            when = START + timedelta(
                seconds=(offset + i) / count * DAYS * 86400 + rng.random() * 600
            )
            words = rng.sample(WORDS, 3)
            target_id = target_name = ""
            if target_type == "Host::Base":
                host = hosts[rng.randrange(len(hosts))]
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
            row = [
                pk,
                seq0 + offset + i + 1,
                "site" if target_type == "Host::Base" else "integration",
                action,
                "u",
                action.split(".")[0],
                action.replace(".", " ").title(),
                f"user{user} {action} {target_name or words[0]} {' '.join(words)}",
                "User",
                str(user + 1),
                f"user{user}",
                "",
                target_type,
                target_id,
                target_name,
                "",
                "",
                "",
                "",
                "",
                "",
                1,
                changes,
                "",
                f"10.{user % 250}.{rng.randrange(250)}.{rng.randrange(1, 250)}",
                f"{pk:032x}",
                "t" if action.endswith("failure") else "f",
                "f",
                "{}",
                "{}",
                "",
                "",
                "",
                when.isoformat(),
                when.isoformat(),
                "0" * 64,
                "0" * 64,
            ]
            buffer.write("\t".join(_copy_text(v) for v in row) + "\n")
        sql = f"COPY audits_auditevent ({', '.join(columns)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            copy.write(buffer.getvalue())
        print(
            f"  copied {offset + n}/{count} events ({time.perf_counter() - started:.0f}s)",
            flush=True,
        )
    finish_load()


def finish_load() -> None:
    """Links, sequences, statistics and the search indexes; rerunnable."""
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
            "SELECT setval(pg_get_serial_sequence('audits_auditevent', 'id'), (SELECT MAX(id) FROM audits_auditevent))"
        )
        cursor.execute(
            "UPDATE audits_auditchainhead SET last_seq = (SELECT MAX(seq) FROM audits_auditevent)"
        )
        loaded = time.perf_counter()
        print(f"data: linked taxonomies in {loaded - started:.0f}s; building search indexes")
        cursor.execute("SET maintenance_work_mem = '256MB'")
        search_indexes = importlib.import_module("audits.migrations.0006_audit_search_indexes")
        for _, sql in search_indexes.INDEXES:
            cursor.execute(sql)
        cursor.execute("ANALYZE audits_auditevent")
        cursor.execute("ANALYZE audits_auditeventlocation")
    print(f"data: indexes built in {time.perf_counter() - loaded:.0f}s")


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


def queries(host_id: int, user: str, page: int) -> list[tuple[str, str, dict, dict]]:
    """(label, path, our params, baseline params) over the same rows."""
    end = START + timedelta(days=DAYS)
    week = (end - timedelta(days=40), end - timedelta(days=33))
    return [
        (
            "field equality",
            "",
            {"search": "action = user.login.failure"},
            {"action": "user.login.failure"},
        ),
        ("~ substring name", "", {"search": "description ~ firewall"}, {"search": "firewall"}),
        (
            "time range",
            "",
            {"search": f'time >= "{week[0]:%Y-%m-%d}" and time < "{week[1]:%Y-%m-%d}"'},
            {"created_after": week[0].isoformat(), "created_before": week[1].isoformat()},
        ),
        (
            "user+action+time",
            "",
            {"search": f'user = {user} and action = update and time > "{week[0]:%Y-%m-%d}"'},
            {"actor_name": user, "action": "update", "created_after": week[0].isoformat()},
        ),
        ("free text", "", {"search": "certificate"}, {"search": "certificate"}),
        ("changes ~ x", "", {"search": "changes ~ quarterly"}, {"changes": "quarterly"}),
        (
            "host's audits",
            f"hosts/{host_id}/",
            {},
            {"target_type": "Host::Base", "target_id": str(host_id)},
        ),
        (f"page {page}", "", {"page": page}, {"page": page}),
    ]


def timed(call, repeat: int) -> tuple[list[float], object]:
    call()  # warm the plan and caches; not counted
    samples, response = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples, response


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/audit_search.py needs DATABASE_URL=postgres://...")
    load(args.events)
    user = get_user_model().objects.filter(
        is_superuser=True
    ).first() or get_user_model().objects.create_superuser("bench", "b@example.com", "x")
    factory = APIRequestFactory(SERVER_NAME="localhost")
    ours_list = AuditViewSet.as_view({"get": "list"})
    baseline = BaselineView.as_view()
    host_id = Host.objects.order_by("pk").values_list("pk", flat=True)[10]
    total = AuditEvent.objects.count()
    print(f"\n{total} events, repeat={args.repeat}; ms (p50 / p95 / total of the repeats)")
    print(
        f"{'query':18} {'ours p50':>9} {'p95':>7} {'total':>8} | {'base p50':>9} {'p95':>7} {'total':>8} | ratio p50   subtotal/count"
    )
    for label, path, ours_params, base_params in queries(host_id, "user3", min(5000, total // 20)):

        def ours(path=path, ours_params=ours_params):
            request = factory.get(f"/api/{path}audits", ours_params)
            force_authenticate(request, user=user)
            kwargs = {"host_id": str(host_id)} if path else {}
            response = ours_list(request, **kwargs)
            response.render()
            return response

        def base(base_params=base_params):
            request = factory.get("/baseline", base_params)
            response = baseline(request)
            response.render()
            return response

        mine, our_response = timed(ours, args.repeat)
        theirs, base_response = timed(base, args.repeat)
        assert our_response.status_code == 200, our_response.data
        assert base_response.status_code == 200, base_response.data
        counted = f"{our_response.data['subtotal']}/{base_response.data['count']}"
        print(
            f"{label:18} {p(mine, 0.5):9.1f} {p(mine, 0.95):7.1f} {sum(mine):8.0f} | "
            f"{p(theirs, 0.5):9.1f} {p(theirs, 0.95):7.1f} {sum(theirs):8.0f} | "
            f"{p(theirs, 0.5) / p(mine, 0.5):8.1f}x   {counted}"
        )


if __name__ == "__main__":
    main()
