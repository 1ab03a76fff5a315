"""
The check scheduler's cost per tick (monitoring/scheduler.py), which every worker that runs
the periodic jobs pays once a second, on the database DATABASE_URL names (migrated here).

  1. baseline: a tick with no scheduled check (the run lease taken and released, one read);
  2. idle: a tick with N scheduled checks of which none is due (the usual tick);
  3. due: a tick that publishes all N (each fire time claimed by its UPDATE), through an
     in-process publisher that only counts, so the broker's cost is not in the figure;
  4. due, RabbitMQ: the same through a real pika publish per request (one connection kept),
     when RabbitMQ answers at 127.0.0.1:5672.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_scheduler \\
        .venv/bin/python bench/check_scheduler.py --checks 1000 --ticks 20

Rows it creates are named `bench-sched-*` and deleted at the end. Read the ratios to the
baseline, not the absolute numbers: the machine is shared.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PREFIX = "bench-sched-"


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def timed(fn, ticks: int) -> tuple[float, int]:
    """Median milliseconds of `ticks` calls, and what the last call returned."""
    samples = []
    result = 0
    for _ in range(ticks):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=20)
    args = parser.parse_args()
    setup_django()

    from django.conf import settings
    from django.utils import timezone

    from monitoring import bus
    from monitoring.models import CheckDefinition, CheckSchedule
    from monitoring.scheduler import check_requests_schedule, check_requests_schedule_tick

    settings.SENSU_TRANSPORT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
    published = [0]

    def counting(kind, name, body, options) -> None:
        published[0] += 1

    bus.publisher_set(counting)

    def cleanup() -> None:
        CheckDefinition.objects.filter(name__startswith=PREFIX).delete()
        CheckSchedule.objects.filter(check_name__startswith=PREFIX).delete()

    cleanup()
    try:
        print(
            f"{args.checks} checks, median of {args.ticks} ticks each; database "
            f"{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}"
        )
        baseline, _ = timed(check_requests_schedule_tick, args.ticks)
        print(f"baseline (no scheduled check)      {baseline:8.2f} ms   1.00")

        CheckDefinition.objects.bulk_create(
            CheckDefinition(
                name=f"{PREFIX}{i}", command="true", subscribers=[f"{PREFIX}sub"], interval=60
            )
            for i in range(args.checks)
        )
        # Pinned: on the real clock about N/60 checks come due each second.
        start = timezone.now()
        check_requests_schedule_tick(now=start)  # Every check's current fire time published.
        idle, result = timed(lambda: check_requests_schedule_tick(now=start), args.ticks)
        assert result == 0, result
        print(f"idle ({args.checks} checks, none due)      {idle:8.2f} ms {idle / baseline:6.2f}")

        # Each tick an interval later: every check is due again.
        step = [0]

        def due_tick() -> int:
            step[0] += 1
            return check_requests_schedule(now=start + timedelta(seconds=60 * step[0]))

        due, result = timed(due_tick, max(3, args.ticks // 4))
        assert result == args.checks, result
        print(
            f"due ({args.checks} published, counted) {due:8.2f} ms {due / baseline:6.2f}"
            f"   {due / args.checks * 1000:.0f} us per check"
        )

        rabbit = rabbitmq_publisher()
        if rabbit is not None:
            bus.publisher_set(rabbit)
            due_rmq, result = timed(due_tick, 3)
            assert result == args.checks, result
            print(
                f"due ({args.checks} published, RabbitMQ) {due_rmq:8.2f} ms "
                f"{due_rmq / baseline:6.2f}   {due_rmq / args.checks * 1000:.0f} us per check"
            )
            rabbit.close()
    finally:
        cleanup()
        bus.publisher_set(None)


class RabbitPublisher:
    """One pika connection, exchanges declared once, each request a basic_publish."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.channel = connection.channel()
        self.declared: set[str] = set()

    def __call__(self, kind, name, body, options) -> None:
        if name not in self.declared:
            self.channel.exchange_declare(name, exchange_type=kind, durable=False)
            self.declared.add(name)
        self.channel.basic_publish(name, "", body)

    def close(self) -> None:
        for name in self.declared:
            self.channel.exchange_delete(name)
        self.connection.close()


def rabbitmq_publisher() -> RabbitPublisher | None:
    import pika

    try:
        connection = pika.BlockingConnection(
            pika.ConnectionParameters("127.0.0.1", 5672, connection_attempts=1)
        )
    except pika.exceptions.AMQPError:
        print("RabbitMQ not reachable: skipping the RabbitMQ figure")
        return None
    return RabbitPublisher(connection)


if __name__ == "__main__":
    main()
