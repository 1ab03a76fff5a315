"""
Helpers the bench scripts share, one copy each: percentiles, timing and thread loops,
Django set-up, CPU read from /proc, the site's environment and processes (gunicorn,
`manage.py worker`, audit_verify) when it runs in subprocesses, and the bench audit events
(COPY columns and rows, bulk bodies). Scripts put the repository on sys.path, then
`from bench.kit import ...`.

Nothing here imports Django or reads settings at import time: some scripts set up the
environment first and Django later.
"""

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Every column a generated audit event is COPYed with, in the order of its COPY text.
AUDIT_EVENT_COPY_COLUMNS = [
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
    "actor_fields",
    "target_type",
    "target_id",
    "target_name",
    "target_href",
    "target_fields",
    "associated_type",
    "associated_id",
    "associated_name",
    "project",
    "environment",
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
    "retraced_id",
    "receipt_hash",
]


def django_setup(**environment_defaults: str) -> None:
    """Django set up in this process on the site's settings; `environment_defaults` are
    set where the environment does not already give them."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")
    for name, value in environment_defaults.items():
        os.environ.setdefault(name, value)
    import django

    django.setup()


# --- Figures ------------------------------------------------------------------------------


def percentile(samples: list[float], fraction: float) -> float:
    """The sample at `fraction` (0.95 for p95) of the sorted samples, nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed[T](call: Callable[[], T], repeat: int) -> tuple[list[float], T]:
    """Milliseconds of `repeat` calls after one warm-up call (plans, caches; not counted),
    and the last call's result."""
    result = call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, result


def values_and_weights[T](pairs: list[tuple[T, float]]) -> tuple[tuple[T, ...], tuple[float, ...]]:
    """(value, weight) pairs split for `random.choices(values, weights)`."""
    values, weights = zip(*pairs, strict=True)
    return values, weights


def zipf_weights(count: int) -> list[float]:
    """Weights for `random.choices` over `count` ranks: a few ranks draw most of the picks."""
    return [1 / (rank + 1) for rank in range(count)]


def run_threads(work: Callable[[int], None], count: int) -> float:
    """`work(0)` ... `work(count - 1)`, each in its own thread, all at once: the seconds
    until the last has returned."""
    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


# --- CPU, from /proc (Linux, same machine) --------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def child_pids(pid: int) -> list[int]:
    """The children of a process (every thread's): gunicorn's workers, for its master."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # a thread that ended meanwhile
            continue
    return found


def postgres_backend_pids(cursor) -> list[int]:
    """The PostgreSQL backends of the cursor's database, other than the cursor's own (a
    Django or a psycopg cursor)."""
    cursor.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    return [pid for (pid,) in cursor.fetchall()]


# --- The site in subprocesses ------------------------------------------------------------


def site_environment(*, database: str, settings_module: str, **overrides: str) -> dict[str, str]:
    """This process's environment for a site subprocess: DATABASE_URL unless given (a local
    database named `database`), a bench secret, warnings-only logs, the repository importable."""
    return {
        **os.environ,
        "DATABASE_URL": os.environ.get(
            "DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{database}"
        ),
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-only-secret"),
        "DJANGO_SETTINGS_MODULE": settings_module,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **overrides,
    }


def throwaway_site_environment(var: Path | str, **overrides: str) -> dict[str, str]:
    """This process's environment for a site on a throw-away SQLite database under `var`
    (no DATABASE_URL), anonymous API access from loopback, warnings-only logs."""
    environment = {
        **os.environ,
        "INTEGRATION_SITE_VAR_DIR": str(var),
        "DJANGO_SECRET_KEY": "bench-only",
        "DJANGO_MANIFEST_STATIC": "0",
        "INTEGRATION_API_ANONYMOUS_NETWORKS": "127.0.0.0/8",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }
    environment.pop("DATABASE_URL", None)
    return environment


def ensure_database(url: str) -> None:
    """Create the database `url` names unless it exists (through the server's `postgres`)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def gunicorn_start(*, environment: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    """The site under gunicorn's defaults (sync workers) on 127.0.0.1:`port`, warnings
    only; not waited for."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "integration_site.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=environment,
    )


def migrated_django_setup(environment: dict[str, str]) -> None:
    """The database of `environment` created if need be and migrated, then Django set up in
    this process on the same environment."""
    ensure_database(environment["DATABASE_URL"])
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=environment, check=True
    )
    os.environ.update(environment)
    import django

    django.setup()


def start_workers(
    count: int, *, environment: dict[str, str], log: Path, log_mode: str = "w"
) -> list[subprocess.Popen]:
    """`count` `manage.py worker` processes polling every 0.2 s, their errors into `log`
    (LOG_LEVEL=WARNING: errors only, e.g. a dropped result); `log_mode` "a" keeps what
    earlier phases logged."""
    log.parent.mkdir(exist_ok=True)
    with log.open(log_mode) as output:
        return [
            subprocess.Popen(
                [sys.executable, "manage.py", "worker", "--interval", "0.2"],
                cwd=ROOT,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=output,
            )
            for _ in range(count)
        ]


def stop_workers(workers: list[subprocess.Popen]) -> None:
    """SIGTERM to every worker first, then up to a minute's wait for each (killed after)."""
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()


def stop_process_groups(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each process's group (started with `start_new_session`: gunicorn and its
    workers), in order, waiting for each."""
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def audit_verify_summary(environment: dict[str, str]) -> str:
    """What `manage.py audit_verify` says of the chain (its error, if it fails)."""
    verify = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "audit_verify"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    return (verify.stdout or verify.stderr).strip()


# --- Bench audit events -------------------------------------------------------------------


def bulk_body(event: dict, count: int = 1000) -> bytes:
    """A bulk request body: `count` copies of `event`, over 50 actions."""
    events = [{**event, "action": f"bulk.event.{i % 50}"} for i in range(count)]
    return json.dumps({"events": events}).encode()


def audit_event_table_columns(conn) -> list[str]:
    """The event table's columns in table order (a psycopg connection)."""
    return [
        name
        for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'audits_auditevent' AND table_schema = current_schema() "
            "ORDER BY ordinal_position"
        )
    ]


def audit_event_copy_row(columns: list[str], event: dict, now: datetime) -> dict[str, object]:
    """The values of one bench event stored as a token's `event` (a POST body), by column;
    callers set the ids and chain columns."""
    return {
        **dict.fromkeys(columns, ""),
        **dict.fromkeys(
            ("audited_changes", "fields", "metadata", "actor_fields", "target_fields"), "{}"
        ),
        **{k: v for k, v in event.items() if k != "ip_address"},
        "source": "integration",
        "actor_type": "API token",
        "actor_name": "token:bench",
        "remote_address": event["ip_address"],
        "is_failure": False,
        "is_anonymous": False,
        "version": None,
        "created_at": now,
        "received_at": now,
        # The default project's chain (audits.models.DEFAULT_CHAIN; not imported, since
        # callers need not have set Django up): NOT NULL since migration 0023.
        "chain": 1,
    }


def copy_text(conn, rows: list[list]) -> bytes:
    """COPY text for `rows`, formatted client-side once (a psycopg connection), so that
    timing its COPY times PostgreSQL alone."""
    from psycopg.copy import Copy, FileWriter

    buffer = io.BytesIO()
    with Copy(conn.cursor(), writer=FileWriter(buffer)) as copy:
        for row in rows:
            copy.write_row(row)
    return buffer.getvalue()
