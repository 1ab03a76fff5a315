"""
Faults against a live site started as `make run` starts it (scripts/run.sh: gunicorn and the
two supervised task workers), each counting what the clients were acknowledged against what
the database holds afterwards: nothing acknowledged is lost, nothing is stored twice, and the
hash chain verifies. Clients behave as real ones: a lost connection or a 5xx is retried with
the same Idempotency-Key. docs/reliability.md records what each proves and the last figures
(run with `-s` to see them printed).

On PostgreSQL the site gets a database of its own on the suite's server; the restart test
starts a private cluster (never the shared one). On SQLite the site uses its var directory.
"""

import json
import os
import signal
import threading
import time
import uuid

import pytest
import requests
from django.db import connection

from tests.hostile.live import (
    Ledger,
    LiveSite,
    assert_acknowledged_stored_once,
    chain_verified,
    event_external_id,
    file_size_limit,
    fresh_database,
    gunicorn_worker_pids,
    ingest_with_retries,
    live_site,
    main_task_worker_pid,
    private_cluster,
    private_cluster_available,
    stored_by_key,
)
from tests.live_site import ROOT, wait_for

ON_POSTGRES = connection.vendor == "postgresql"

pytestmark = pytest.mark.skipif(
    not (ROOT / ".venv/bin/gunicorn").exists(), reason="needs the project venv"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One live site for the kill tests, on the suite's database engine."""
    var_dir = tmp_path_factory.mktemp("faults-site")
    # Small drain batches: a killed worker is much more likely to die inside one.
    env = {"MONITORING_RESULTS_BATCH_SIZE": "50"}
    if ON_POSTGRES:
        with (
            fresh_database(os.environ["DATABASE_URL"]) as url,
            live_site(var_dir, database_url=url, env=env) as running,
        ):
            yield running
    else:
        with live_site(var_dir, env=env) as running:
            yield running


def _event(key: str, index: int, size: int = 200) -> dict:
    return {
        "action": "fault.injected",
        "external_id": event_external_id(key, index),
        "description": "d" * size,
    }


def _clients(count: int, work) -> tuple[list[threading.Thread], list[BaseException]]:
    """`count` threads running work(n); what any of them raised is collected, not lost."""
    failures: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    return threads, failures


def _figures(name: str, **values) -> None:
    print(f"\nfaults: {name}: " + ", ".join(f"{key}={value}" for key, value in values.items()))


def _no_server_errors(ledger: Ledger, allowed: set[int]) -> None:
    """Every 5xx was one of `allowed`, in the API's JSON format, with Retry-After."""
    for response in ledger.refused:
        assert response.status_code in allowed, (response.status_code, response.text[:300])
        assert response.headers.get("Content-Type") == "application/json", response.text[:300]
        assert response.headers.get("Retry-After"), response.headers
        assert response.json()["message"]


# --- 1. kill -9 of gunicorn workers during ingest ----------------------------------------


def test_kill_9_of_gunicorn_workers_during_ingest_loses_and_duplicates_nothing(site):
    secret = site.token("audit:write")
    prefix = f"gk-{uuid.uuid4().hex[:8]}"
    ledger = Ledger()
    stop = threading.Event()

    def client(n: int) -> None:
        session = requests.Session()
        for i in range(10_000):
            if stop.is_set():
                return
            bulk = i % 3 == 2  # a bulk request (25 events) after two single ones
            key = f"{prefix}-{n}-{i}"
            events = [_event(key, j) for j in range(25 if bulk else 1)]
            ingest_with_retries(
                session,
                site,
                ledger,
                secret=secret,
                key=key,
                events=events,
                bulk=bulk,
                give_up_at=time.monotonic() + 30,
                # A kill rarely lands between a commit and its answer; a lost answer is
                # also made on purpose, so that the retry's replay is always exercised.
                abandon_first=i % 5 == 4,
            )

    threads, failures = _clients(6, client)
    killed = []
    try:
        time.sleep(1)
        for _ in range(8):
            workers = gunicorn_worker_pids(site)
            assert workers, "gunicorn has no workers"
            victim = workers[len(killed) % len(workers)]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            # The master forks a replacement, which loads the app before serving.
            time.sleep(1.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not failures, failures
    assert len(killed) == 8
    # The kills landed on requests in flight (each worker always had one: 6 clients, 2 workers).
    assert ledger.connection_errors > 0

    stored = stored_by_key(site, prefix)
    assert_acknowledged_stored_once(ledger, stored)
    # Retries after lost answers were answered by replays (the abandoned request had stored).
    assert ledger.replays > 0, f"{ledger.abandoned} answers lost, no retry replayed"
    _no_server_errors(ledger, allowed={503})
    verified = chain_verified(site)
    assert verified.startswith("verified "), verified
    _figures(
        "gunicorn kill -9 during ingest",
        kills=len(killed),
        requests=len(ledger.attempted),
        acknowledged_requests=len(ledger.acknowledged),
        acknowledged_events=ledger.acknowledged_events,
        stored_events=len(stored),
        lost_connections=ledger.connection_errors,
        answers_lost_on_purpose=ledger.abandoned,
        replays=ledger.replays,
        retries=ledger.retries,
        statuses=dict(sorted(ledger.statuses.items())),
        chain=verified,
    )


# --- 2. kill -9 of the task worker mid-drain ---------------------------------------------

CHECKS = 60
KILLS = 3  # kills that land inside a drain
HISTORY = 21  # the entries a check's history keeps (Sensu's)
DRAIN_TASK = "monitoring.tasks.results_drain"


def _worker_pid(worker_id: str) -> int:
    """The pid inside a worker id (integration_site.schedule.worker_id_current)."""
    return int(worker_id.rsplit("-", 2)[1])


def _drain_running_under(site: LiveSite, pid: int) -> str | None:
    """The id of the drain task worker `pid` is running now, if it is in one."""
    for task_id, worker_ids in site.rows(
        "SELECT id, worker_ids FROM django_tasks_database_dbtaskresult "
        f"WHERE status = 'RUNNING' AND task_path = '{DRAIN_TASK}'"
    ):
        if isinstance(worker_ids, str):  # SQLite's JSON is text
            worker_ids = json.loads(worker_ids)
        if _worker_pid(worker_ids[-1]) == pid:
            return str(task_id)
    return None


def _task_row(site: LiveSite, task_id: str) -> tuple[str, str]:
    ((status, traceback),) = site.rows(
        f"SELECT status, traceback FROM django_tasks_database_dbtaskresult WHERE id = '{task_id}'"
    )
    return status, traceback


def test_kill_9_of_the_task_worker_mid_drain_processes_each_result_exactly_once(site):
    secret = site.token("monitoring:write")
    prefix = f"wk-{uuid.uuid4().hex[:8]}"
    posters = 2
    accepted: dict[int, int] = {}  # check -> results accepted (outputs r0, r1, ...)
    stop = threading.Event()

    def poster(n: int) -> None:
        # Each check's results come from one thread, in order: the queue keeps that order.
        # A round posts one result for each of its checks, until the kills are done.
        session = requests.Session()
        mine = [check for check in range(CHECKS) if check % posters == n]
        round_ = 0
        while not stop.is_set():
            for check in mine:
                response = session.post(
                    f"{site.base}/results",
                    json={"name": f"{prefix}-{check}", "output": f"r{round_}", "status": 2},
                    headers={"Authorization": f"Bearer {secret}"},
                    timeout=30,
                )
                assert response.status_code == 202, response.text
                accepted[check] = round_ + 1
            round_ += 1

    def queued() -> int:
        return site.rows("SELECT count(*) FROM monitoring_acceptedresult")[0][0]

    threads, failures = _clients(posters, poster)
    kills: list[int] = []
    interrupted: list[tuple[int, str, int]] = []  # (pid, its drain task, results queued)
    try:
        while len(interrupted) < KILLS:
            # A kill may miss (the drain it saw ended first); that many misses means the
            # drains are too short to hit, and the test proves nothing.
            assert len(kills) < 2 * KILLS, f"{len(kills)} kills, {len(interrupted)} mid-drain"
            pid = wait_for(
                lambda: (pid := main_task_worker_pid(site)) not in (None, *kills) and pid,
                60,
                "a (re)started main task worker",
            )
            task_id = wait_for(
                lambda pid=pid: _drain_running_under(site, pid), 60, f"worker {pid} to drain"
            )
            os.kill(pid, signal.SIGKILL)
            kills.append(pid)
            waiting = queued()
            # Still RUNNING once its worker is dead: the kill landed inside the drain.
            if _task_row(site, task_id)[0] == "RUNNING":
                interrupted.append((pid, task_id, waiting))
                print(f"\nfaults: killed the task worker {pid} mid-drain, {waiting} queued")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert not failures, failures

    # The supervisor restarts the worker, which drains the rest on its own.
    started = time.monotonic()
    wait_for(lambda: queued() == 0, 120, "the queue to drain")
    drained_in = time.monotonic() - started
    histories = dict(
        site.rows(
            "SELECT r.check_name, r.history FROM monitoring_checkresult r "
            f"WHERE r.check_name LIKE '{prefix}-%'"
        )
    )
    occurrences = dict(
        site.rows(
            f"SELECT check_name, occurrences FROM monitoring_event WHERE check_name LIKE '{prefix}-%'"
        )
    )
    # Every result was processed exactly once, in order: a lost one or one processed twice
    # changes the occurrences (each result is critical), the history shows the last ones.
    wrong = {}
    for check in range(CHECKS):
        name = f"{prefix}-{check}"
        expected = [f"r{number}" for number in range(accepted[check])][-HISTORY:]
        history = histories.get(name)
        if isinstance(history, str):  # SQLite's JSON is text
            history = json.loads(history)
        outputs = [entry[2] for entry in history or []]
        if outputs != expected or occurrences.get(name) != accepted[check]:
            wrong[name] = (accepted[check], outputs, occurrences.get(name))
    assert not wrong, f"{len(wrong)} checks not processed exactly once: {list(wrong.items())[:3]}"
    assert main_task_worker_pid(site) not in (None, *kills)

    # Nothing is left claimed by a dead worker: the reaper (every 30 s) fails the drains the
    # kills interrupted, and no task row of a killed worker still says it is running.
    started = time.monotonic()
    for _, task_id, _ in interrupted:
        status, traceback = wait_for(
            lambda task_id=task_id: (row := _task_row(site, task_id))[0] != "RUNNING" and row,
            90,
            f"the reaper to fail the interrupted drain {task_id}",
        )
        assert status == "FAILED", status
        assert "The task never finished" in traceback, traceback
    reaped_in = time.monotonic() - started
    assert not [pid for pid in kills if _drain_running_under(site, pid)]
    _figures(
        "task worker kill -9 mid-drain",
        kills=len(kills),
        kills_mid_drain=len(interrupted),
        queued_at_kills=[waiting for _, _, waiting in interrupted],
        accepted=sum(accepted.values()),
        checks=CHECKS,
        drained_after_posting_s=round(drained_in, 1),
        interrupted_drains_failed_by_reaper_within_s=round(reaped_in, 1),
    )


# --- 3. a PostgreSQL restart under load --------------------------------------------------


@pytest.mark.skipif(not ON_POSTGRES, reason="the PostgreSQL suite")
@pytest.mark.skipif(not private_cluster_available(), reason="needs PostgreSQL 15's initdb")
def test_postgresql_restart_under_load_answers_503_then_recovers_with_nothing_lost(tmp_path):
    with (
        private_cluster() as cluster,
        fresh_database(cluster.url) as url,
        live_site(tmp_path, database_url=url) as site,
    ):
        _restart_under_load(site, cluster)


def _restart_under_load(site: LiveSite, cluster) -> None:
    secret = site.token("audit:write", "monitoring:write")
    prefix = f"pg-{uuid.uuid4().hex[:8]}"
    ledger = Ledger()
    answers: list[tuple[float, int]] = []  # (when answered, status)
    stop = threading.Event()
    original_answered = ledger.answered

    def answered(response: requests.Response) -> None:
        answers.append((time.monotonic(), response.status_code))
        original_answered(response)

    ledger.answered = answered

    def client(n: int) -> None:
        session = requests.Session()
        for i in range(10_000):
            if stop.is_set():
                return
            key = f"{prefix}-{n}-{i}"
            ingest_with_retries(
                session,
                site,
                ledger,
                secret=secret,
                key=key,
                events=[_event(key, 0)],
                bulk=i % 4 == 3,
                give_up_at=time.monotonic() + 30,
            )

    threads, failures = _clients(4, client)
    try:
        time.sleep(2)
        restart_at = time.monotonic()
        cluster.restart()
        back_at = time.monotonic()
        time.sleep(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not failures, failures
    # Requests in flight when the server went away were refused as 503 with Retry-After,
    # never a 500.
    _no_server_errors(ledger, allowed={503})
    refused = [when for when, status in answers if status == 503]
    assert refused, f"no request was refused during the restart: {ledger.statuses}"
    recovered_at = min(when for when, status in answers if status == 201 and when > refused[0])

    # The worker recovers on its own: it links the events stored pending during the run and
    # drains results posted after the restart, without being restarted.
    results = 5
    for number in range(results):
        response = requests.post(
            f"{site.base}/results",
            json={"name": f"{prefix}-after", "output": f"r{number}", "status": 2},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
    wait_for(
        lambda: (
            site.rows(
                f"SELECT occurrences FROM monitoring_event WHERE check_name = '{prefix}-after'"
            )
            == [(results,)]
        ),
        60,
        "the worker to process results posted after the restart",
    )
    wait_for(
        lambda: site.rows("SELECT count(*) FROM audits_auditevent WHERE seq IS NULL") == [(0,)],
        60,
        "the worker to link the pending events",
    )

    stored = stored_by_key(site, prefix)
    assert_acknowledged_stored_once(ledger, stored)
    verified = chain_verified(site)
    assert verified.startswith("verified "), verified
    _figures(
        "PostgreSQL restart under load",
        restart_s=round(back_at - restart_at, 2),
        first_503_after_restart_began_s=round(refused[0] - restart_at, 2),
        recovery_first_2xx_after_first_503_s=round(recovered_at - refused[0], 2),
        first_2xx_after_server_back_s=round(
            min(when for when, status in answers if status == 201 and when > back_at) - back_at,
            2,
        ),
        requests=len(ledger.attempted),
        acknowledged_events=ledger.acknowledged_events,
        stored_events=len(stored),
        answers_503=len(refused),
        statuses=dict(sorted(ledger.statuses.items())),
        chain=verified,
    )


# --- 4. a full disk on the SQLite default ------------------------------------------------

# Room beyond the largest file the site writes at start: a few bulk requests' worth.
DISK_HEADROOM_BYTES = 768 * 1024


@pytest.mark.skipif(ON_POSTGRES, reason="the SQLite suite (the embedded default)")
def test_a_full_disk_on_sqlite_answers_507_loses_nothing_and_ingest_resumes(tmp_path):
    # First run: migrate and load the demo data with room to spare; the clean stop folds
    # the WAL into the database file.
    with live_site(tmp_path):
        pass
    # The limit holds for every file the site writes: collectstatic rewrites its largest
    # (a 4 MB source map) at each start, so the database may grow up to that size and more.
    largest = max(path.stat().st_size for path in tmp_path.rglob("*") if path.is_file())
    limit = largest + DISK_HEADROOM_BYTES
    prefix = f"df-{uuid.uuid4().hex[:8]}"
    ledger = Ledger()

    with live_site(tmp_path, preexec_fn=file_size_limit(limit)) as site:
        secret = site.token("audit:write")
        session = requests.Session()
        refused_in_a_row = 0
        for i in range(400):
            key = f"{prefix}-{i}"
            bulk = i % 2 == 1
            events = [_event(key, j, size=5_000) for j in range(50 if bulk else 1)]
            done = ingest_with_retries(
                session,
                site,
                ledger,
                secret=secret,
                key=key,
                events=events,
                bulk=bulk,
                give_up_at=0,  # one try: the disk stays full
            )
            refused_in_a_row = 0 if done else refused_in_a_row + 1
            if refused_in_a_row == 20:
                break
        assert refused_in_a_row == 20, f"the disk never filled: {ledger.statuses}"
    full_statuses = dict(sorted(ledger.statuses.items()))
    _no_server_errors(ledger, allowed={507, 503})
    assert ledger.connection_errors == 0
    assert 507 in ledger.statuses, ledger.statuses

    # Space is back (the limit lifted): the site starts, has every acknowledged event, and
    # takes the refused requests when the clients retry them with their keys.
    with live_site(tmp_path) as site:
        stored_while_full = stored_by_key(site, prefix)
        assert_acknowledged_stored_once(ledger, stored_while_full)
        session = requests.Session()
        refused_keys = sorted(ledger.attempted - set(ledger.acknowledged))
        for key in refused_keys:
            index = int(key.rsplit("-", 1)[1])
            bulk = index % 2 == 1
            assert ingest_with_retries(
                session,
                site,
                ledger,
                secret=secret,
                key=key,
                events=[_event(key, j, size=5_000) for j in range(50 if bulk else 1)],
                bulk=bulk,
                give_up_at=time.monotonic() + 10,
            )
        stored = stored_by_key(site, prefix)
        assert_acknowledged_stored_once(ledger, stored)
        assert len(stored) == ledger.acknowledged_events
        verified = chain_verified(site)
    assert verified.startswith("verified "), verified
    _figures(
        "SQLite full disk",
        limit_bytes=limit,
        requests=len(ledger.attempted),
        acknowledged_while_full=sum(
            len(ids) for key, ids in ledger.acknowledged.items() if key not in refused_keys
        ),
        stored_while_full=len(stored_while_full),
        statuses_while_full=full_statuses,
        refused_then_stored_after=len(refused_keys),
        stored_events=len(stored),
        chain=verified,
    )
