"""
Dashboard benchmark (issue 17): the console's front page with 1M audit events and thousands
of open monitoring events on PostgreSQL, against a baseline measured in the same run: the
same admin index with no dashboard panels (the stock Django admin index, as a user with no
panels sees it). In-process through Django's test client, signed in as a superuser, the
full response rendered.

    createdb -h 127.0.0.1 -U postgres dash_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dash_bench DJANGO_SECRET_KEY=x \
        .venv/bin/python bench/dashboard.py --events 1000000 --repeat 50

The database must be a scratch one: the script migrates it and, when it holds fewer than
--events rows, inserts the missing ones with one INSERT ... SELECT generate_series, spread
over the last 30 days in three sources. Bench rows carry placeholder chain hashes (the chain
linker is bypassed: the chain is not what is measured). The first roll-up of the counters
over the whole trail is timed too; then --tail events are appended after the watermark and
--pending ones left unlinked, so every view also counts a live tail (spread over the 30
days, the worst case: a real tail is the last minute's events).
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kit import django_setup, percentile

django_setup(DATABASE_STATEMENT_TIMEOUT_MS="0")

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.db.models.functions import TruncHour  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from audits.counters import audit_counts_roll_up  # noqa: E402
from audits.models import AuditEvent  # noqa: E402
from monitoring.models import Client as SensuClient  # noqa: E402
from monitoring.models import Event, Silence, silence_key  # noqa: E402
from monitoring.snapshots import load_snapshot_history_demo  # noqa: E402

INSERT_EVENTS = """
INSERT INTO audits_auditevent (
    id, seq, source, action, crud, name, title, description, actor_type, actor_id, actor_name,
    actor_href, actor_fields, target_type, target_id, target_name, target_href, target_fields,
    associated_type, associated_id, associated_name, project, environment, group_id,
    group_name, audited_changes, comment, request_uuid, is_failure, is_anonymous, fields,
    metadata, external_id, component, component_version, created_at, received_at, prev_hash,
    hash, retraced_id, receipt_hash
)
SELECT %(id0)s + g, {seq}, (ARRAY['integration', 'site', 'site', 'system'])[1 + g %% 4],
    'bench.' || (g %% 20), 'u', '', '', '', 'User', (g %% 50)::text, 'user' || (g %% 50),
    '', '{{}}', 'Host::Base', (g %% 1000)::text, 'host' || (g %% 1000), '', '{{}}',
    '', '', '', 'default', 'production', '', '', '{{}}', '', md5(g::text), false, false,
    '{{}}', '{{}}', '', '', '', t, t, {hash}, {hash}, '', ''
FROM generate_series(1, %(n)s) AS g,
    LATERAL (SELECT now() - interval '30 days' * (1 - g::float / %(n)s)
                   + interval '1 second' * (g %% 97) AS t) AS at
"""


def head_sync() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audits_auditchainhead SET last_seq = "
            "(SELECT COALESCE(MAX(seq), 0) FROM audits_auditevent)"
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('audits_auditevent', 'id'), "
            "(SELECT MAX(id) FROM audits_auditevent))"
        )


def insert(n: int, *, linked: bool) -> None:
    if n <= 0:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(id), 0) FROM audits_auditevent")
        seq0, id0 = cursor.fetchone()
        sql = INSERT_EVENTS.format(
            seq=f"{seq0} + g" if linked else "NULL",
            hash="repeat('0', 64)" if linked else "NULL",
        )
        cursor.execute(sql, {"id0": id0, "n": n})
    head_sync()


def load(events: int, monitoring_events: int) -> None:
    call_command("migrate", verbosity=0)
    have = AuditEvent.objects.count()
    if have < events:
        started = time.perf_counter()
        insert(events - have, linked=True)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE audits_auditevent")
        print(f"data: inserted {events - have} events in {time.perf_counter() - started:.0f}s")
    if Event.objects.count() < monitoring_events:
        clients = [
            SensuClient(
                name=f"bench-{i}",
                address="10.0.0.1",
                subscriptions=["production"] if i % 2 else ["staging"],
            )
            for i in range(500)
        ]
        SensuClient.objects.bulk_create(clients, ignore_conflicts=True)
        clients = list(SensuClient.objects.filter(name__startswith="bench-"))
        now = int(time.time())
        Event.objects.bulk_create(
            [
                Event(
                    client=clients[i % len(clients)],
                    check_name=f"check_{i // len(clients)}",
                    status=(1, 2, 1, 3, 2)[i % 5],
                    output="bench",
                    timestamp=now,
                    silenced=i % 10 == 0,
                )
                for i in range(monitoring_events)
            ],
            ignore_conflicts=True,
            batch_size=1000,
        )
        load_snapshot_history_demo(lambda line: None)
        # Silences of each kind the silenced count matches: a subscription's, a client's, a check's.
        for subscription, check in (
            ("staging", "check_1"),
            ("client:bench-7", None),
            (None, "check_3"),
        ):
            Silence.objects.get_or_create(
                silence_id=silence_key(subscription, check),
                defaults={"subscription": subscription, "check_name": check},
            )


def timed(client: Client, path: str, repeat: int) -> list[float]:
    assert client.get(path).status_code == 200  # warm plans and caches; not counted
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--monitoring-events", type=int, default=5_000)
    parser.add_argument("--tail", type=int, default=2_000, help="linked, not rolled up yet")
    parser.add_argument("--pending", type=int, default=200, help="not linked yet")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/dashboard.py needs DATABASE_URL=postgres://...")
    load(args.events, args.monitoring_events)

    started = time.perf_counter()
    rolled = audit_counts_roll_up()
    print(f"roll-up: {rolled} events counted in {time.perf_counter() - started:.1f}s")
    insert(args.tail, linked=True)
    started = time.perf_counter()
    audit_counts_roll_up()
    print(f"roll-up of a {args.tail}-event tail: {(time.perf_counter() - started) * 1000:.0f} ms")
    insert(args.tail, linked=True)  # the tail every view below counts live
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audits_auditevent")

    user = get_user_model().objects.filter(is_superuser=True).first()
    user = user or get_user_model().objects.create_superuser("bench", "b@example.com", "x")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)  # audited: a linked append, which links pending events first
    insert(args.pending, linked=False)
    total = AuditEvent.objects.count()
    pending = AuditEvent.objects.filter(seq__isnull=True).count()
    print(
        f"\n{total} audit events ({pending} pending, {args.tail + pending} in the live tail), "
        f"{Event.objects.count()} open monitoring events, {Silence.objects.count()} silences; "
        f"repeat={args.repeat}; ms"
    )
    # Static files as DEBUG serves them: the manifest needs collectstatic, not measured here.
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        dashboard = timed(client, "/admin/", args.repeat)
        with patch("integration_site.dashboard.dashboard_panels", return_value=[]):
            baseline = timed(client, "/admin/", args.repeat)
    print(f"{'page':28} {'p50':>7} {'p95':>7} {'mean':>7}")
    for label, samples in (
        ("dashboard /admin/", dashboard),
        ("baseline: index, no panels", baseline),
    ):
        print(
            f"{label:28} {percentile(samples, 0.5):7.1f} {percentile(samples, 0.95):7.1f} "
            f"{statistics.mean(samples):7.1f}"
        )
    print(
        f"ratio dashboard/baseline: p50 {percentile(dashboard, 0.5) / percentile(baseline, 0.5):.2f}x, "
        f"p95 {percentile(dashboard, 0.95) / percentile(baseline, 0.95):.2f}x; "
        f"target p95 <= 200 ms: {'met' if percentile(dashboard, 0.95) <= 200 else 'MISSED'}"
    )
    # What the counters save: the same figures by a scan of the 30 days (the naive way).
    scan = []
    for _ in range(3):
        t0 = time.perf_counter()
        len(
            AuditEvent.objects.filter(created_at__gte=timezone.now() - timedelta(days=30))
            .order_by()
            .annotate(hour=TruncHour("created_at"))
            .values("hour", "source")
            .annotate(n=Count("id"))
        )
        scan.append((time.perf_counter() - t0) * 1000)
    print(f"for comparison, the 30 days counted by a scan: {statistics.median(scan):.0f} ms")
    loadavg = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"at {timezone.now():%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average {loadavg}")


if __name__ == "__main__":
    main()
