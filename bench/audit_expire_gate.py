"""
What the retention gate of issue 14 costs (PostgreSQL): `audits_expire_through`'s DELETE,
whose every row passes the append-only trigger's `audits_expiry_allows` lookup, against the
same DELETE of the same number of rows with the table's triggers switched off (what a
superuser could do), in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch .venv/bin/python bench/audit_expire_gate.py --events 100000

It needs a superuser (it switches triggers off for the baseline) and a scratch database: it
migrates it, backdates every event, appends `--events` more 100 days old twice (one prefix
for each measurement) and expires each prefix in batches of 10,000.
"""

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kit import django_setup

django_setup(DJANGO_SECRET_KEY="bench")

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from audits.models import AuditEvent  # noqa: E402
from audits.services import (  # noqa: E402
    audit_event_build,
    audit_events_append,
    audit_events_expire,
)

TRIGGERS = ("audits_auditevent_no_update_delete", "audits_auditevent_no_truncate")


def triggers(enabled: bool) -> None:
    with connection.cursor() as cursor:
        for name in TRIGGERS:
            state = "ENABLE ALWAYS" if enabled else "DISABLE"
            cursor.execute(f"ALTER TABLE audits_auditevent {state} TRIGGER {name}")


def old_events(count: int) -> None:
    then = timezone.now() - timedelta(days=100)
    with patch("django.utils.timezone.now", return_value=then):
        for _ in range(count // 1000):
            audit_events_append([audit_event_build(action="bench.old") for _ in range(1000)])


def baseline_expire(count: int) -> float:
    """The same batches, deleted with the triggers off: what the gate adds is the difference."""
    first = AuditEvent.objects.filter(seq__isnull=False).order_by("seq").values("seq").first()
    start, end = first["seq"] - 1, first["seq"] - 1 + count
    began = time.perf_counter()
    triggers(False)
    try:
        for low in range(start, end, 10_000):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "DELETE FROM audits_auditevent WHERE seq > %s AND seq <= %s",
                    [low, min(low + 10_000, end)],
                )
    finally:
        triggers(True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    triggers(False)
    AuditEvent.objects.update(received_at=timezone.now() - timedelta(days=200))
    triggers(True)
    old_events(args.events)
    began = time.perf_counter()
    removed = audit_events_expire(days=30).removed
    gated = time.perf_counter() - began
    old_events(args.events)
    triggers(False)  # the audit.expire events of the first run are recent: make them old
    AuditEvent.objects.update(received_at=timezone.now() - timedelta(days=200))
    triggers(True)
    baseline = baseline_expire(args.events)
    print(
        f"audits_expire_through (gated), {removed} events: {gated:.2f} s, {removed / gated:,.0f}/s"
    )
    print(
        f"same DELETEs, triggers off:  {args.events} events: {baseline:.2f} s, "
        f"{args.events / baseline:,.0f}/s"
    )
    print(f"ratio gated / ungated per event: {(gated / removed) / (baseline / args.events):.2f}")


if __name__ == "__main__":
    main()
