"""
Load and abuse against a live site started as `make run` starts it (two gunicorn sync workers,
the embedded SQLite default, the task workers that make /health pass): a wrong-password flood
and the many-wildcard search. Each asserts outcomes (locked out, answered, not answered within
a client's patience); the probe's latencies are printed, bench/hostile_load.py records them.
"""

import time
from urllib.parse import quote

import pytest
import requests

from tests.hostile.attacks import REDOS_SEARCH, Flood, Probe, basic_header, describe
from tests.live_site import (
    ROOT,
    SUPERUSER,
    free_port,
    health_wait_until_up,
    site_manage,
    site_start,
    site_stop,
    site_wait_until_up,
)

WEB_CONCURRENCY = 2
# IDENTITY_LOGIN_MAX_FAILURES's default: failures of one username from one address.
MAX_FAILURES = 5
# How long a monitoring probe or an API client waits for an answer before it gives up.
PATIENCE_SECONDS = 10
SEARCH_PATIENCE_SECONDS = 30

pytestmark = pytest.mark.skipif(
    not (ROOT / ".venv/bin/gunicorn").exists(), reason="needs the project venv"
)

# Worst-case rows for the search: every prefix of the pattern matches, the final "x" never
# does. A backtracking regex spends about 48 s on one such 60-character value; LIKE, microseconds.
_SEED_ROWS = """
from audits.models import ActorType, AuditEvent, AuditSource
common = {"source": AuditSource.SITE, "actor_type": ActorType.SYSTEM, "actor_name": "hostile"}
AuditEvent.objects.bulk_create(
    [AuditEvent(action="hostile.worst", description="e" * 60, **common) for _ in range(20)]
)
# One short transaction per 500 rows: SQLite has one writer, and the live site writes too.
for start in range(0, 20000, 500):
    AuditEvent.objects.bulk_create(
        [AuditEvent(action="hostile.ordinary", description=f"event {n}", **common)
         for n in range(start, start + 500)]
    )
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    port = free_port()
    var_dir = tmp_path_factory.mktemp("abuse-site")
    proc = site_start(var_dir, port, web_concurrency=WEB_CONCURRENCY)
    base = f"http://127.0.0.1:{port}"
    try:
        site_wait_until_up(f"{base}/admin/login/", proc)
        # The monitoring probe's own token; /health passes (204) once the worker checked in.
        secret = site_manage(var_dir, "create_api_token", "probe", "--scope", "health:read")
        probe_headers = {"Authorization": f"Bearer {secret.strip()}"}
        secret = site_manage(var_dir, "create_api_token", "searcher", "--scope", "audit:read")
        search_headers = {"Authorization": f"Bearer {secret.strip()}"}
        health_wait_until_up(f"{base}/health", probe_headers)
        yield {
            "base": base,
            "port": port,
            "var_dir": var_dir,
            "probe_headers": probe_headers,
            "search_headers": search_headers,
        }
    finally:
        site_stop(proc)


def test_a_wrong_password_flood_is_locked_out_while_every_health_probe_is_answered(site):
    flood = Flood(
        site["port"],
        clients=30,
        method="GET",
        path="/api/status",
        headers={"Authorization": basic_header(SUPERUSER[0], "not-the-password")},
    )
    probe = None
    try:
        # The first few wrong passwords are hashed (and the probe waits behind them) until the
        # ledger holds IDENTITY_LOGIN_MAX_FAILURES of them; without the lockout there is no
        # 429 at all, and the flood hashes forever.
        deadline = time.monotonic() + 60
        while not flood.statuses[429] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert flood.statuses[429], f"no lockout after 60 s: {dict(flood.statuses)}"
        probe = Probe(
            f"{site['base']}/health", patience=PATIENCE_SECONDS, headers=site["probe_headers"]
        )
        time.sleep(20)
    finally:
        flood.close()
        if probe is not None:
            probe.close()
    print(f"\n/health during 30 clients' wrong passwords: {describe(probe.latencies_ms)}")
    print(f"flood answers: {dict(sorted(flood.statuses.items()))}")

    # Only the first few failures (those already being hashed when the ledger filled) ever
    # cost a password hash; every 429 said when to come back.
    assert flood.retry_after and all(int(value) > 0 for value in flood.retry_after)
    assert flood.statuses[401] <= MAX_FAILURES + WEB_CONCURRENCY
    assert set(flood.statuses) <= {401, 429}
    # Once locked, the monitoring probe never waited past its patience.
    assert probe.statuses and set(probe.statuses) == {204}


def test_the_many_wildcard_search_is_answered_and_so_is_every_request_after_it(site):
    site_manage(site["var_dir"], "shell", "--no-imports", "-c", _SEED_ROWS)
    bearer = site["search_headers"]
    url = f"{site['base']}/api/audits?search={quote(REDOS_SEARCH)}"

    started = time.perf_counter()
    response = requests.get(url, headers=bearer, timeout=SEARCH_PATIENCE_SECONDS)
    print(f"\n{REDOS_SEARCH} over 20,000 events: {(time.perf_counter() - started):.3f} s")
    # Answered: the rows (none match), or on PostgreSQL a clear 503 if the statement
    # timeout fired; never a worker that stops answering.
    assert response.status_code in (200, 503), response.text
    if response.status_code == 200:
        assert response.json()["subtotal"] == 0
    else:
        assert response.headers["Retry-After"]

    # Every worker answers next: more requests than there are workers, the same search too.
    for _ in range(2 * WEB_CONCURRENCY + 1):
        assert requests.get(url, headers=bearer, timeout=SEARCH_PATIENCE_SECONDS).status_code in (
            200,
            503,
        )
        health = requests.get(
            f"{site['base']}/health", headers=site["probe_headers"], timeout=PATIENCE_SECONDS
        )
        assert health.status_code == 204
