"""
Reads from a real streaming replica (integration_site.replicas): a second PostgreSQL 15 made
by pg_basebackup of the test cluster, on a loopback port, in a temporary directory, and a
real site (gunicorn) with DATABASE_URL on the primary and DATABASE_REPLICA_URL on it.

Which database answered is told by what it knows: with the replica's replay paused, an
event written on the primary is missing from an answer only if the replica gave it.

Skipped (not failed) where the cluster refuses replication connections: .ci/run adds
`host replication all 127.0.0.1/32 trust` to pg_hba.conf; a newcomer's machine may lack it.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection

from audits.models import AuditEvent
from audits.retraced.viewer_services import enterprise_token_create
from audits.services import audit_event_record
from audits.tenancy import default_tenancy_ensure
from integration_site.replicas import PIN_COOKIE
from integration_site.services import api_token_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
REPLICA_PORTS = range(5442, 5450)
# The replication slots of these tests: the prefix, then the test run's pid.
SLOT_PREFIX = "test_replica_"
# How long a site may take to see a change of its replica (a check every second), or the
# replica to replay a write: generous, since it replays the whole cluster's WAL, and other
# databases of the cluster may be busy.
SEEN_WITHIN_SECONDS = 120
# A request's limit: the machine may be busy (two cores, a replica replaying other work).
HTTP_TIMEOUT = 120


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root, and tests run as root on these machines.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class StreamingReplica:
    data_dir: Path
    port: int
    dbname: str
    primary: dict

    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def sql(self, query: str):
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=self.dbname, autocommit=True
        ) as conn:
            return conn.execute(query).fetchone()

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), *args]),
            check=True,
            capture_output=True,
            # A start replays the WAL the cluster wrote during the backup: minutes when other
            # databases of the cluster are busy.
            timeout=660,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={self.data_dir}"
        )
        self.pg_ctl(
            "-o", options, "-l", str(self.data_dir / "replica.log"), "-w", "-t", "600", "start"
        )

    def stop(self) -> None:
        self.pg_ctl("-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def replay_pause(self) -> None:
        """Pause replay once the replica has replayed all the primary wrote: paused in the
        middle of a transaction that took an exclusive lock (the flush between tests
        truncates every table), it would keep that lock, and reads would wait for it."""
        with psycopg.connect(
            host=self.primary["HOST"] or "127.0.0.1",
            port=self.primary["PORT"] or 5432,
            user=self.primary["USER"] or "postgres",
            password=self.primary["PASSWORD"] or None,
            dbname=self.dbname,
            autocommit=True,
        ) as primary:
            written = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + SEEN_WITHIN_SECONDS
        while not self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn")[0]:
            assert time.monotonic() < deadline, "the replica did not catch up with the primary"
            time.sleep(0.1)
        self.sql("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 30
        while self.sql("SELECT pg_get_wal_replay_pause_state()")[0] != "paused":
            assert time.monotonic() < deadline, "the replica did not pause its replay"
            time.sleep(0.05)

    def replay_resume(self) -> None:
        self.sql("SELECT pg_wal_replay_resume()")


def _primary_sql(primary: dict, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(
        host=primary["HOST"] or "127.0.0.1",
        port=primary["PORT"] or 5432,
        user=primary["USER"] or "postgres",
        password=primary["PASSWORD"] or None,
        dbname=primary["NAME"],
        autocommit=True,
    ) as conn:
        return conn.execute(query, params).fetchall()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _slots_drop(primary: dict, *, ours: str | None = None) -> None:
    """Drop this run's slot (`ours`), and the inactive slots of test runs that died: a slot
    keeps the primary's WAL for its replica, without end."""
    for (name,) in _primary_sql(
        primary,
        "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s AND NOT active",
        (f"{SLOT_PREFIX}%",),
    ):
        pid = name.removeprefix(SLOT_PREFIX).split("_")[0]
        if name == ours or (pid.isdigit() and not _pid_alive(int(pid))):
            _primary_sql(primary, "SELECT pg_drop_replication_slot(%s)", (name,))


def _basebackup(primary: dict, data_dir: Path, slot: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "pg_basebackup",
            f"--host={primary['HOST'] or '127.0.0.1'}",
            f"--port={primary['PORT'] or 5432}",
            f"--username={primary['USER'] or 'postgres'}",
            f"--pgdata={data_dir}",
            "--write-recovery-conf",
            "--wal-method=stream",
            # A slot: the primary keeps the WAL the replica has not received, however far a
            # busy cluster gets ahead of it (without one, a recycled segment ends it).
            "--create-slot",
            f"--slot={slot}",
            "--checkpoint=fast",
            "--no-password",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "PGPASSWORD": primary["PASSWORD"] or ""},
    )


@pytest.fixture(scope="module")
def streaming_replica(django_db_setup, django_db_blocker) -> Iterator[StreamingReplica]:
    """A hot standby of the test cluster, streaming from it, holding the test database."""
    if not (PG_BIN / "pg_ctl").exists() or shutil.which("pg_basebackup") is None:
        pytest.skip(f"PostgreSQL 15's server programs are not installed ({PG_BIN})")
    primary = connection.settings_dict
    port = next((port for port in REPLICA_PORTS if _port_free(port)), None) or _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="replica-"))
    data_dir = workdir / "data"
    slot = None
    replica = None
    _slots_drop(primary)
    try:
        # Other sessions of a busy cluster may cut the backup's stream: tried three times.
        for _attempt in range(3):
            slot = f"{SLOT_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:8]}"
            backup = _basebackup(primary, data_dir, slot)
            if backup.returncode == 0:
                break
            if "replication" in backup.stderr and "pg_hba.conf" in backup.stderr:
                pytest.skip(
                    "the test cluster refuses replication connections: add `host replication "
                    "all 127.0.0.1/32 trust` to its pg_hba.conf and reload (as .ci/run does). "
                    + backup.stderr.strip()
                )
            _slots_drop(primary, ours=slot)
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            pytest.fail(f"pg_basebackup failed three times: {backup.stderr}")
        # Debian keeps the cluster's configuration outside its data directory: the standby
        # gets its own. hot_standby_feedback keeps the primary's vacuum from cancelling reads.
        (data_dir / "postgresql.conf").write_text(
            "hot_standby = on\nhot_standby_feedback = on\nmax_connections = 100\nfsync = off\n"
        )
        (data_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )
        if os.geteuid() == 0:
            shutil.chown(workdir, "postgres", "postgres")
            subprocess.run(["chown", "-R", "postgres:postgres", str(workdir)], check=True)
        data_dir.chmod(0o700)
        replica = StreamingReplica(
            data_dir=data_dir, port=port, dbname=primary["NAME"], primary=primary
        )
        replica.start()
        yield replica
    finally:
        if replica is not None and replica.running():
            replica.stop()
        if slot is not None:
            _slots_drop(primary, ours=slot)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def replica(streaming_replica) -> Iterator[StreamingReplica]:
    """The replica, running and replaying at the start and at the end of each test."""
    if not streaming_replica.running():
        streaming_replica.start()
    streaming_replica.replay_resume()
    yield streaming_replica
    if not streaming_replica.running():
        streaming_replica.start()
    streaming_replica.replay_resume()


@dataclass
class Site:
    url: str
    log_path: Path
    audit_reader: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, *, after: int = 0) -> int:
        """Wait until the log holds more than `after` lines matching `pattern`; their count."""
        deadline = time.monotonic() + SEEN_WITHIN_SECONDS
        while True:
            found = len(re.findall(pattern, self.log()))
            if found > after:
                return found
            assert time.monotonic() < deadline, f"no {pattern!r} in the site's log:\n{self.log()}"
            time.sleep(0.2)

    def audits_matching(self, action: str) -> int:
        """`subtotal` of a Foreman API search for the action; a 200 is required."""
        response = requests.get(
            f"{self.url}/api/audits",
            params={"search": f'action = "{action}"'},
            headers={"Authorization": f"Bearer {self.audit_reader}"},
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return response.json()["subtotal"]


@contextmanager
def site_running(replica: StreamingReplica, *, max_lag_seconds: int) -> Iterator[Site]:
    """gunicorn (one worker, so one process's view of the replica) on a free port."""
    _, secret = api_token_create(name=f"reader-{uuid.uuid4().hex[:8]}", scopes=["audit:read"])
    primary = connection.settings_dict
    workdir = Path(tempfile.mkdtemp(prefix="replica-site-"))
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")},
        "DATABASE_URL": (
            f"postgres://{primary['USER'] or 'postgres'}:{primary['PASSWORD'] or ''}"
            f"@{primary['HOST'] or '127.0.0.1'}:{primary['PORT'] or 5432}/{primary['NAME']}"
        ),
        "DATABASE_REPLICA_URL": replica.url(),
        "DATABASE_REPLICA_MAX_LAG_SECONDS": str(max_lag_seconds),
        "DATABASE_REPLICA_CHECK_SECONDS": "1",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_MANIFEST_STATIC": "0",
        "INTEGRATION_SITE_VAR_DIR": str(workdir),
        "LOG_LEVEL": "INFO",
    }
    log_path = workdir / "site.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "integration_site.wsgi:application",
                f"--bind=127.0.0.1:{port}",
                "--workers=1",
                "--timeout=120",
                "--access-logfile=-",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    site = Site(url=f"http://127.0.0.1:{port}", log_path=log_path, audit_reader=secret)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{site.url}/api/status", timeout=HTTP_TIMEOUT)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, f"the site exited:\n{site.log()}"
                assert time.monotonic() < deadline, f"the site did not start:\n{site.log()}"
                time.sleep(0.2)
        # The first read starts the process's health checks; then wait for the verdict.
        site.audits_matching("nothing")
        yield site
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


IN_USE = r"Read replica replica_1 in use"
OUT_OF_USE = r"Read replica replica_1 out of use"


def _record(action: str, *, group_id: str = "") -> None:
    audit_event_record(action=action, group_id=group_id)


def test_searches_read_the_replica(replica):
    with site_running(replica, max_lag_seconds=3600) as site:
        site.wait_for_log(IN_USE)
        _record("replica.before")
        # Replayed before the pause: the replica knows it.
        deadline = time.monotonic() + SEEN_WITHIN_SECONDS
        while site.audits_matching("replica.before") != 1:
            assert time.monotonic() < deadline, "the replica never caught up"
            time.sleep(0.2)
        replica.replay_pause()
        _record("replica.after-pause")
        assert AuditEvent.objects.filter(action="replica.after-pause").count() == 1
        # On the primary, not yet on the replica, which answered: a little stale, as allowed.
        assert site.audits_matching("replica.after-pause") == 0
        replica.replay_resume()
        deadline = time.monotonic() + SEEN_WITHIN_SECONDS
        while site.audits_matching("replica.after-pause") != 1:
            assert time.monotonic() < deadline, "the replica never caught up"
            time.sleep(0.2)


def test_a_write_on_the_replica_is_refused_with_postgresqls_read_only_error(replica):
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        replica.sql("INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())")


def test_writes_made_by_a_view_reading_the_replica_go_to_the_primary(replica):
    """The enterprise search reads the replica and records each use of its token: the
    record is written on the primary (the read-only replica would refuse it)."""
    default_tenancy_ensure()
    token, secret = enterprise_token_create(
        project="default", environment="production", group_id="g1", display_name="SIEM"
    )
    with site_running(replica, max_lag_seconds=3600) as site:
        site.wait_for_log(IN_USE)
        replica.replay_pause()
        _record("replica.enterprise", group_id="g1")
        response = requests.post(
            f"{site.url}/enterprise/v1/graphql",
            json={"query": 'query { search(query: "", last: 50) { totalCount } }'},
            headers={"Authorization": f"token={secret}"},
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text
        # Read on the replica: the event written after the pause is not counted.
        assert response.json()["data"]["search"]["totalCount"] == 0
        # Written on the primary: the access record is there.
        assert AuditEvent.objects.filter(group_id="g1", actor_id=token.access_actor_id).count() == 1


def test_a_lagging_replica_is_not_read(replica):
    with site_running(replica, max_lag_seconds=1) as site:
        in_use = site.wait_for_log(IN_USE)
        replica.replay_pause()
        _record("replica.lagging")
        site.wait_for_log(r"out of use: [0-9.]+ s behind the primary")
        # Served by the primary: the replica, which has not replayed it, is not used.
        assert site.audits_matching("replica.lagging") == 1
        replica.replay_resume()
        site.wait_for_log(IN_USE, after=in_use)


def test_a_replica_that_goes_away_costs_no_error_and_is_used_again_when_back(replica):
    with site_running(replica, max_lag_seconds=3600) as site:
        in_use = site.wait_for_log(IN_USE)
        assert site.audits_matching("replica.gone") == 0  # the site now holds a connection
        replica.stop()
        _record("replica.gone")
        # The held connection fails under the search: answered again from the primary.
        assert site.audits_matching("replica.gone") == 1
        assert re.search(rf"{OUT_OF_USE}: connection lost", site.log())
        # The health checks keep it out of use meanwhile.
        time.sleep(2)
        assert site.audits_matching("replica.gone") == 1
        # No request was answered with a server error (gunicorn's access log: `"GET ..." 200`).
        assert not re.search(r'" 5\d\d ', site.log()), site.log()

        replica.start()
        site.wait_for_log(IN_USE, after=in_use)
        replica.replay_pause()
        _record("replica.back")
        assert site.audits_matching("replica.back") == 0


def _admin_session(site: Site, username: str, password: str) -> requests.Session:
    browser = requests.Session()
    browser.get(f"{site.url}/admin/login/", timeout=HTTP_TIMEOUT)
    response = browser.post(
        f"{site.url}/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            "username": username,
            "password": password,
        },
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 200 and "Log out" in response.text, response.text[:2000]
    return browser


def test_the_admin_reads_the_replica_except_right_after_a_save(replica, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    with site_running(replica, max_lag_seconds=3600) as site:
        site.wait_for_log(IN_USE)
        browser = _admin_session(site, "boss", "a-long-password-1")
        # The sign-in was a POST: this browser reads the primary for a while.
        assert PIN_COOKIE in browser.cookies
        replica.replay_pause()
        _record("replica.admin-probe-1")
        search = {"q": "action ~ admin-probe"}
        changelist = f"{site.url}/admin/audits/auditevent/"
        pinned = browser.get(changelist, params=search, timeout=HTTP_TIMEOUT)
        assert pinned.status_code == 200, site.log()
        assert "replica.admin-probe-1" in pinned.text
        # Once the pin is over, the list and the dashboard come from the replica.
        browser.cookies.clear(domain="127.0.0.1", path="/", name=PIN_COOKIE)
        unpinned = browser.get(changelist, params=search, timeout=HTTP_TIMEOUT)
        assert unpinned.status_code == 200, site.log()
        assert "replica.admin-probe-1" not in unpinned.text
        assert browser.get(f"{site.url}/admin/", timeout=HTTP_TIMEOUT).status_code == 200
