import os
import signal
import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker

from integration_site.db_limits import session_limits_override, session_limits_restore
from integration_site.models import WorkerHeartbeat
from integration_site.schedule import (
    enqueue_due_periodic_tasks,
    run_worker_tick_hooks,
    worker_id_current,
)

HEARTBEAT_EVERY_SECONDS = 5


class Command(BaseCommand):
    help = (
        "Run the task worker: django-tasks-db's db_worker, plus a heartbeat for /health and "
        "the periodic jobs (monitors). Stops cleanly on SIGINT/SIGTERM."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="Idle poll seconds.")
        parser.add_argument(
            "--queue-name", default="*", help="Queues to serve, comma-separated ('*' for all)."
        )
        parser.add_argument("--once", action="store_true", help="One tick, then exit (tests).")

    def handle(self, *args, interval, queue_name, once, **options):
        # Jobs walk whole tables (retention, verification, provisioning): longer limits than a
        # request's, still explicit. Restored on the way out, for a caller in the same
        # process (tests).
        session_limits_override(
            statement_timeout_ms=settings.WORKER_STATEMENT_TIMEOUT_MS,
            idle_in_transaction_ms=settings.WORKER_STATEMENT_TIMEOUT_MS,
        )
        try:
            self.serve(interval=interval, queue_name=queue_name, once=once)
        finally:
            session_limits_restore()

    def serve(self, *, interval: float, queue_name: str, once: bool) -> None:
        worker_id = worker_id_current()
        # Batch mode: the library's loop drains the queue and returns, letting this loop
        # beat the heartbeat and schedule periodic jobs between drains.
        worker = Worker(
            queue_names=queue_name.split(","),
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        self.running = True

        def shutdown(signum, frame):
            if not self.running:
                raise SystemExit(1)  # Second signal: stop now, even mid-task.
            self.stdout.write("Worker stopping after the current task...")
            self.running = False
            worker.running = False

        signal.signal(signal.SIGINT, shutdown)
        signal.signal(signal.SIGTERM, shutdown)

        started_at = timezone.now()
        last_beat = 0.0
        self.stdout.write(f"Worker {worker_id} started.")
        while self.running:
            close_old_connections()
            if time.monotonic() - last_beat >= HEARTBEAT_EVERY_SECONDS:
                WorkerHeartbeat.objects.update_or_create(
                    worker_id=worker_id,
                    defaults={
                        "hostname": socket.gethostname()[:255],
                        "pid": os.getpid(),
                        "started_at": started_at,
                        "last_seen_at": timezone.now(),
                    },
                )
                last_beat = time.monotonic()
            enqueue_due_periodic_tasks()
            run_worker_tick_hooks()
            worker.run()
            if once:
                break
            if self.running:
                time.sleep(interval)
        WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()
        close_old_connections()
        self.stdout.write(f"Worker {worker_id} stopped.")
