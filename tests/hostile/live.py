"""
Fault injection against a live site (tests/live_site.py starts it as `make run` does): the
site on a database of its own, its processes found and killed, a private PostgreSQL cluster
to restart, a file size limit standing in for a full disk, and a ledger of what the clients
were told against what the database holds.
"""

import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

from tests.live_site import (
    free_port,
    site_manage,
    site_start,
    site_stop,
    site_wait_until_up,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class LiveSite:
    base: str
    proc: subprocess.Popen
    var_dir: Path
    env: dict[str, str]
    # The site's database: a PostgreSQL URL, or None for the SQLite file in var_dir.
    database_url: str | None
    output: str = ""

    def manage(self, *args: str) -> str:
        return site_manage(self.var_dir, *args, env=self.env)

    def token(self, *scopes: str) -> str:
        options = [f"--scope={scope}" for scope in scopes]
        return self.manage("create_api_token", f"faults-{uuid.uuid4().hex[:8]}", *options).strip()

    def rows(self, sql: str) -> list[tuple]:
        """What the site's database holds, read directly (not through the site)."""
        if self.database_url is None:
            with sqlite3.connect(self.var_dir / "integration_site.sqlite3", timeout=30) as conn:
                return conn.execute(sql).fetchall()
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return conn.execute(sql).fetchall()


@contextmanager
def live_site(
    var_dir: Path,
    *,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    preexec_fn=None,
    port: int | None = None,
) -> Iterator[LiveSite]:
    """
    The run command serving `var_dir` (and `database_url` if given) until the block ends,
    then stopped with its whole process group. The site's output is kept on `.output`.
    """
    port = port or free_port()
    site_env = {"HOST": "127.0.0.1", **(env or {})}
    if database_url is not None:
        site_env["DATABASE_URL"] = database_url
    proc = site_start(var_dir, port, env=site_env, preexec_fn=preexec_fn)
    site = LiveSite(f"http://127.0.0.1:{port}", proc, var_dir, site_env, database_url)
    try:
        site_wait_until_up(f"{site.base}/admin/login/", proc)
        yield site
    finally:
        try:
            site.output = site_stop(proc)
        finally:
            _group_kill(proc.pid)  # anything the run command left behind


def _group_kill(pgid: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of `server_url`, dropped afterwards."""
    name = f"faults_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(server_url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- Processes ---------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(child) for child in text.split()]


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return []
    return [part.decode() for part in raw.split(b"\0") if part]


def gunicorn_worker_pids(site: LiveSite) -> list[int]:
    """gunicorn's workers: the children of its master, the run command's gunicorn child."""
    masters = [
        pid
        for pid in _children(site.proc.pid)
        if any(part.endswith("bin/gunicorn") for part in _cmdline(pid))
    ]
    return [worker for master in masters for worker in _children(master)]


def main_task_worker_pid(site: LiveSite) -> int | None:
    """The `manage.py worker` serving the results queue and periodic jobs (not `updates`)."""
    found = subprocess.run(
        ["pgrep", "-g", str(site.proc.pid), "-f", "manage.py worker"],
        capture_output=True,
        text=True,
    )
    for pid in map(int, found.stdout.split()):
        if _cmdline(pid)[-1:] == ["worker"]:
            return pid
    return None


# --- A full disk -------------------------------------------------------------------------


def file_size_limit(limit_bytes: int):
    """
    A preexec_fn: every file the site's processes write may grow to `limit_bytes` and no
    further. A write past it fails with EFBIG, as a full disk's fails with ENOSPC, and
    SIGXFSZ is ignored so the writer sees the error instead of dying (Python ignores it
    anyway; bash does not).
    """

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return limit


# --- A private PostgreSQL ----------------------------------------------------------------


@dataclass
class PrivateCluster:
    """A PostgreSQL 15 cluster of this test's own, on a free loopback port."""

    data_dir: Path
    port: int
    run_as: list[str]

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [
                *self.run_as,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-w",
                "-t",
                "60",
                *list(args),
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )

    def restart(self) -> None:
        # fast: every session is terminated (as a failover or an operator's restart does).
        self.pg_ctl("restart", "-m", "fast", "-l", str(self.data_dir / "server.log"))


def private_cluster_available() -> bool:
    return (PG_BIN / "initdb").exists() and (os.geteuid() != 0 or shutil.which("runuser"))


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """
    initdb in a temporary directory, started on a free loopback port, stopped and removed
    afterwards; never the shared server. As root it runs as `postgres` (initdb refuses root).
    """
    run_as: list[str] = []
    top = Path(tempfile.mkdtemp(prefix="faults-pg-"))
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(top, "postgres", "postgres")
    data_dir = top / "data"
    cluster = PrivateCluster(data_dir, free_port(), run_as)
    try:
        subprocess.run(
            [
                *run_as,
                str(PG_BIN / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {cluster.port}\n"
                f"unix_socket_directories = '{top}'\nmax_connections = 60\n"
            )
        cluster.pg_ctl("start", "-l", str(data_dir / "server.log"))
        yield cluster
    finally:
        if (data_dir / "postmaster.pid").exists():
            cluster.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(top, ignore_errors=True)


# --- What the clients were told ----------------------------------------------------------


@dataclass
class Ledger:
    """Per request key: what was attempted, and the ids of every 2xx the site answered."""

    attempted: set[str] = field(default_factory=set)
    acknowledged: dict[str, list[int]] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    refused: list[requests.Response] = field(default_factory=list)
    connection_errors: int = 0
    retries: int = 0
    abandoned: int = 0  # requests sent, then hung up on before the answer
    replays: int = 0  # answers that replayed a stored result (Idempotent-Replayed)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, response: requests.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.headers.get("Idempotent-Replayed") == "true":
                self.replays += 1
            if response.status_code >= 500:
                self.refused.append(response)

    def acknowledge(self, key: str, ids: list[int]) -> None:
        with self.lock:
            previous = self.acknowledged.setdefault(key, ids)
            # A replay must answer what the first acknowledgement did.
            assert previous == ids, (key, previous, ids)

    @property
    def acknowledged_events(self) -> int:
        return sum(len(ids) for ids in self.acknowledged.values())


def event_external_id(key: str, index: int) -> str:
    """The external_id of the request `key`'s event `index`: what ties a row to its request."""
    return f"{key}/{index}"


def event_ids(response: requests.Response, *, bulk: bool) -> list[int]:
    if bulk:
        return [item["id"] for item in response.json()]
    return [int(response.headers["X-Audit-Event-Id"])]


def request_abandoned(site: LiveSite, path: str, body: str, headers: dict[str, str]) -> None:
    """
    POST `body` and hang up before the answer: what a client sees when the worker dies
    after its commit, the request stored and the answer lost. The site still reads the
    whole request (it is in the socket's buffer) and handles it.
    """
    data = body.encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    host, port = urlsplit(site.base).hostname, urlsplit(site.base).port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
            f"Content-Length: {len(data)}\r\n{head}\r\n".encode()
            + data
        )


def ingest_with_retries(
    session: requests.Session,
    site: LiveSite,
    ledger: Ledger,
    *,
    secret: str,
    key: str,
    events: list[dict],
    bulk: bool,
    give_up_at: float,
    retryable=(500, 502, 503, 504, 507),
    abandon_first: bool = False,
) -> bool:
    """
    POST the events as a real client does: with an Idempotency-Key, retried with that same
    key after a lost connection or a 5xx until `give_up_at` (time.monotonic()). True once
    acknowledged. `abandon_first`: the first attempt's answer is lost (`request_abandoned`).
    """
    path = "/audit/v1/event/bulk" if bulk else "/audit/v1/event"
    body = json.dumps({"events": events} if bulk else events[0])
    headers = {
        "Authorization": f"Bearer {secret}",
        "Content-Type": "application/json",
        "Idempotency-Key": key,
    }
    with ledger.lock:
        ledger.attempted.add(key)
    if abandon_first:
        request_abandoned(site, path, body, headers)
        with ledger.lock:
            ledger.abandoned += 1
    while True:
        try:
            response = session.post(site.base + path, data=body, headers=headers, timeout=30)
        except requests.RequestException:
            with ledger.lock:
                ledger.connection_errors += 1
            session.close()  # the next attempt opens a fresh connection
        else:
            ledger.answered(response)
            if response.status_code == 201:
                ledger.acknowledge(key, event_ids(response, bulk=bulk))
                return True
            if response.status_code not in retryable:
                raise AssertionError(f"{path} answered {response.status_code}: {response.text}")
        if time.monotonic() >= give_up_at:
            return False
        with ledger.lock:
            ledger.retries += 1
        time.sleep(0.05)


def stored_by_key(site: LiveSite, prefix: str) -> dict[str, list[int]]:
    """The stored events whose external_id starts with `prefix`, by external_id."""
    found: dict[str, list[int]] = {}
    for pk, external_id in site.rows(
        "SELECT id, external_id FROM audits_auditevent "
        f"WHERE external_id LIKE '{prefix}%' ORDER BY id"
    ):
        found.setdefault(external_id, []).append(pk)
    return found


def assert_acknowledged_stored_once(ledger: Ledger, stored: dict[str, list[int]]) -> None:
    """
    Nothing acknowledged is lost (each acknowledged id is stored, under its event's own
    external id) and nothing is stored twice (one row per external id, whether the request
    was acknowledged, refused or left in doubt by a lost connection).
    """
    twice = {key: ids for key, ids in stored.items() if len(ids) > 1}
    assert not twice, f"stored more than once: {dict(list(twice.items())[:5])}"
    by_id = {ids[0]: external_id for external_id, ids in stored.items()}
    lost = [
        (key, pk)
        for key, ids in ledger.acknowledged.items()
        for index, pk in enumerate(ids)
        if by_id.get(pk) != event_external_id(key, index)
    ]
    assert not lost, f"{len(lost)} acknowledged events are not stored: {lost[:5]}"


def chain_verified(site: LiveSite) -> str:
    """`manage.py audit_verify` on the site's database (exits non-zero on a broken chain)."""
    return site.manage("audit_verify").strip()
