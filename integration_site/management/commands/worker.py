import logging
import os
import signal
import socket
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker

from integration_site.db_limits import session_limits_override, session_limits_restore
from integration_site.models import WorkerHeartbeat
from integration_site.schedule import (
    WorkerThreads,
    enqueue_due_periodic_tasks,
    run_worker_tick_hooks,
    worker_id_current,
)

logger = logging.getLogger(__name__)


def heartbeat_write(*, worker_id: str, started_at, periodic: bool) -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "started_at": started_at,
            "last_seen_at": timezone.now(),
            "periodic": periodic,
        },
    )


class HeartbeatThread(threading.Thread):
    """
    Beats the worker's heartbeat every `every` seconds from a thread of its own, so a task
    that runs for minutes (an update hook, a long drain) does not make /health fail. Django
    connections are per thread: this one has its own, closed when the thread ends.
    """

    def __init__(self, *, worker_id: str, started_at, periodic: bool, every: float):
        super().__init__(name=f"heartbeat-{worker_id}", daemon=True)
        self.worker_id = worker_id
        self.started_at = started_at
        self.periodic = periodic
        self.every = every
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.wait(self.every):
                try:
                    heartbeat_write(
                        worker_id=self.worker_id,
                        started_at=self.started_at,
                        periodic=self.periodic,
                    )
                except DatabaseError:
                    # A database blip: the next beat reconnects. /health tells if it lasts.
                    logger.exception("worker heartbeat failed")
                    connection.close()
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def worker_pool_size_ensure() -> None:
    """
    Grow this process's connection pool to WORKER_DATABASE_POOL_MAX_SIZE: the worker's threads
    each hold a connection while they work, and with the web's pool of 4 they would wait for
    one another (and time out) under load. A pool already opened (system checks) is closed
    first, so the next connection opens the larger one.
    """
    pool = connection.settings_dict.get("OPTIONS", {}).get("pool")
    if (
        not isinstance(pool, dict)
        or pool.get("max_size", 0) >= settings.WORKER_DATABASE_POOL_MAX_SIZE
    ):
        return
    connection.close_pool()
    pool["max_size"] = settings.WORKER_DATABASE_POOL_MAX_SIZE


def queues_to_serve(queue_name: str) -> tuple[list[str], list[str], bool]:
    """
    The queues a worker serves and leaves out for `--queue-name`, and whether it runs the
    periodic jobs. A dedicated queue (settings.WORKER_DEDICATED_QUEUES) is served only when
    named; the periodic jobs and tick hooks run only in a worker that serves the default queue,
    where the periodic tasks are enqueued, so a worker blocked by a long update hook never
    holds them up.
    """
    names = [name.strip() for name in queue_name.split(",") if name.strip()]
    excluded = [queue for queue in settings.WORKER_DEDICATED_QUEUES if queue not in names]
    periodic = "*" in names or "default" in names
    return names, excluded, periodic


class Command(BaseCommand):
    help = (
        "Run the task worker: django-tasks-db's db_worker, plus a heartbeat for /health and, "
        "when it serves the default queue, the periodic jobs (monitors). '--queue-name "
        "updates' runs update jobs only. Stops cleanly on SIGINT/SIGTERM."
    )

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="Idle poll seconds.")
        parser.add_argument(
            "--queue-name",
            default="*",
            help=(
                "Queues to serve, comma-separated ('*': all but the dedicated ones, "
                "settings.WORKER_DEDICATED_QUEUES, which are served only when named)."
            ),
        )
        parser.add_argument("--once", action="store_true", help="One tick, then exit (tests).")

    def handle(self, *args, interval, queue_name, once, **options):
        worker_pool_size_ensure()
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
        queue_names, excluded_queue_names, periodic = queues_to_serve(queue_name)
        # Batch mode: the library's loop drains the queue and returns, letting this loop
        # schedule periodic jobs between drains.
        worker = Worker(
            queue_names=queue_names,
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=excluded_queue_names,
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
        # The first beat before any work, then the thread's, whatever the loop is doing.
        heartbeat_write(worker_id=worker_id, started_at=started_at, periodic=periodic)
        heartbeat = HeartbeatThread(
            worker_id=worker_id,
            started_at=started_at,
            periodic=periodic,
            every=settings.WORKER_HEARTBEAT_EVERY_SECONDS,
        )
        heartbeat.start()
        # Long-lived consumers (the Sensu transport, handler dispatch) run where the periodic
        # jobs do, so a worker kept for update jobs only never holds a consumer.
        threads = WorkerThreads()
        if periodic and not once:
            threads.start()
        served = ",".join(queue_names) + "".join(f" -{name}" for name in excluded_queue_names)
        self.stdout.write(
            f"Worker {worker_id} started (queues: {served}; periodic jobs: "
            f"{'yes' if periodic else 'no'})."
        )
        try:
            while self.running:
                close_old_connections()
                if periodic:
                    enqueue_due_periodic_tasks()
                    run_worker_tick_hooks()
                worker.run()
                if once:
                    break
                if self.running:
                    time.sleep(interval)
        finally:
            threads.stop()
            heartbeat.stop()
        WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()
        close_old_connections()
        self.stdout.write(f"Worker {worker_id} stopped.")
