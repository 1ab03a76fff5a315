"""
The monitoring overview (issue 17 §3) with 5,000 open events over 1,000 clients, on
PostgreSQL: p50/p95 of the page and of its refresh endpoint (the JSON the page polls), each
as a ratio of a baseline measured in the same run, the stock client changelist (a page of
100 clients with their worst status: the admin page the overview replaces).

    .venv/bin/python bench/monitoring_overview.py --database-url postgres://postgres@127.0.0.1:5432/mon_bench

It drops and creates that (scratch) database, writes the clients, events and a few
silences in bulk, then runs each request through Django's test client (the whole stack but
the HTTP server) with a signed-in superuser, interleaving the pages so that a noisy moment
of the shared machine costs each the same.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
parser = argparse.ArgumentParser()
parser.add_argument(
    "--database-url", default="postgres://postgres@127.0.0.1:5432/mon_bench", help="scratch"
)
parser.add_argument("--events", type=int, default=5_000)
parser.add_argument("--clients", type=int, default=1_000)
parser.add_argument("--silences", type=int, default=50)
parser.add_argument("--requests", type=int, default=200, help="per page")
args = parser.parse_args()
os.environ["DATABASE_URL"] = args.database_url
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench")
os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
# Plain static URLs: the bench needs no collectstatic run (the manifest costs the same).
os.environ["DJANGO_MANIFEST_STATIC"] = "0"
os.environ.setdefault("LOG_LEVEL", "WARNING")


def fresh_database(url: str) -> None:
    """Drop and create the scratch database: the audit trail's tables refuse a flush."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


if not args.database_url.startswith("postgres"):
    parser.error("the figures are for PostgreSQL: --database-url postgres://...")
fresh_database(args.database_url)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client as HttpClient  # noqa: E402

from bench.kit import percentile  # noqa: E402
from monitoring.models import Client, Event, Silence, epoch_now  # noqa: E402
from monitoring.services import silence_create  # noqa: E402

CHECKS = ["cpu", "disk", "memory", "http", "ntp", "swap", "load", "backup"]
PAGES = {
    "client changelist (baseline)": "/admin/monitoring/client/",
    "overview page": "/admin/monitoring/event/overview/",
    "overview refresh (JSON)": "/admin/monitoring/event/overview/refresh/",
    "overview refresh, filtered": "/admin/monitoring/event/overview/refresh/?q=rack-3&status=critical",
}


def populate() -> None:
    now = epoch_now()
    clients = Client.objects.bulk_create(
        (
            Client(
                name=f"host-{n:05}.example.com",
                subscriptions=["linux", f"rack-{n % 20}", "production" if n % 3 else "staging"],
                keepalives=True,
                timestamp=now - n % 60,
            )
            for n in range(args.clients)
        ),
        batch_size=2000,
    )
    per_client = max(1, -(-args.events // args.clients))
    statuses = [2, 1, 1, 2, 3, 1, 2, 1]  # every event open: warning, critical, some unknown
    events = []
    for n in range(args.events):
        client = clients[n % len(clients)]
        check = CHECKS[(n // len(clients)) % len(CHECKS)] if per_client > 1 else CHECKS[0]
        events.append(
            Event(
                client=client,
                check_name=check,
                status=statuses[n % len(statuses)],
                output=f"{check.upper()} problem on {client.name}: value {n % 100}",
                occurrences=1 + n % 9,
                occurrences_watermark=1 + n % 9,
                timestamp=now - n % 300,
                last_state_change=now - n * 7,
                check_data={"name": check, "interval": 60, "history": ["0", "1"]},
            )
        )
    Event.objects.bulk_create(events, batch_size=2000)
    for n in range(args.silences):  # client-wide, subscription-wide and all-clients entries
        kind = n % 3
        silence_create(
            subscription=(
                f"client:{clients[n * 7 % len(clients)].name}"
                if kind == 0
                else f"rack-{n % 20}"
                if kind == 1
                else None
            ),
            check=None if kind == 0 else CHECKS[n % len(CHECKS)],
            reason="bench",
            creator="bench",
            expire=3600 + n,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def main() -> None:
    call_command("migrate", verbosity=0)
    populate()
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    http = HttpClient()
    http.force_login(user)
    timings: dict[str, list[float]] = {label: [] for label in PAGES}
    sizes: dict[str, int] = {}
    for url in PAGES.values():  # warm imports, templates and the database's caches
        for _ in range(5):
            assert http.get(url).status_code == 200, url
    for _ in range(args.requests):
        for label, url in PAGES.items():
            started = time.perf_counter()
            response = http.get(url)
            timings[label].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            sizes[label] = len(response.content)
    print(
        f"PostgreSQL {connection.pg_version}, "
        f"{Event.objects.count():,} open events, {Client.objects.count():,} clients, "
        f"{Silence.objects.count()} silences, {args.requests} requests per page, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    base = timings["client changelist (baseline)"]
    base_p50, base_p95 = statistics.median(base), percentile(base, 0.95)
    for label, values in timings.items():
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        print(
            f"{label:32} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  "
            f"(x{p50 / base_p50:.2f} / x{p95 / base_p95:.2f} of the baseline)  "
            f"{sizes[label] / 1024:6.1f} KiB"
        )


if __name__ == "__main__":
    main()
