"""
The deployment's nginx (docs/deploy/nginx.conf, rendered with only its ports and certificate
changed) in front of a live site started as `make run` starts it, two gunicorn sync workers
(WEB_CONCURRENCY=2):
- slow clients (slowloris): ten connections that send their headers one byte at a time hold
  every worker when they reach gunicorn directly, and none behind nginx;
- the client address the site sees, and the 413 in the site's format;
- the search rate limits: per credential and per client address, answered by nginx in each
  API's own error body.
Outcomes only: a request is answered, refused, or not answered within the client's patience.
The latencies are printed; bench/hostile_load.py records them.
"""

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import urllib3

from tests.hostile.attacks import SlowHeaders, describe, plain_connector, tls_connector
from tests.live_site import (
    NGINX,
    ROOT,
    SUPERUSER,
    free_port,
    nginx_render,
    nginx_start,
    nginx_stop,
    site_manage,
    site_start,
    site_stop,
    site_wait_until_up,
)

WEB_CONCURRENCY = 2
SLOW_CONNECTIONS = 10
# How long a normal client waits for an answer before it gives up.
PATIENCE_SECONDS = 10

pytestmark = [
    pytest.mark.skipif(not (ROOT / ".venv/bin/gunicorn").exists(), reason="needs the project venv"),
    pytest.mark.skipif(
        NGINX is None, reason="needs Debian's nginx (.ci/run installs it: apt-get install nginx)"
    ),
]


def _probe(url: str, count: int) -> tuple[list[int | None], list[float]]:
    """`count` normal requests, one after another: their statuses (None: not answered)."""
    statuses, latencies = [], []
    for _ in range(count):
        started = time.perf_counter()
        try:
            response = requests.get(url, timeout=PATIENCE_SECONDS, verify=False)
        except requests.RequestException:  # gave up waiting, or the connection failed
            statuses.append(None)
            continue
        statuses.append(response.status_code)
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.2)
    return statuses, latencies


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The run command on a free port, and nginx from docs/deploy/nginx.conf in front of it."""
    gunicorn_port, https_port, http_port = free_port(), free_port(), free_port()
    tmp_path = tmp_path_factory.mktemp("slow-clients")
    var_dir, nginx_dir = tmp_path / "var", tmp_path / "nginx"
    var_dir.mkdir()
    nginx_dir.mkdir()
    # As the deployment runs it (README, Running in production): one proxy hop.
    proc = site_start(
        var_dir, gunicorn_port, web_concurrency=WEB_CONCURRENCY, env={"TRUSTED_PROXY_COUNT": "1"}
    )
    nginx = None
    try:
        site_wait_until_up(f"http://127.0.0.1:{gunicorn_port}/admin/login/", proc)
        main_conf = nginx_render(
            nginx_dir, https_port=https_port, http_port=http_port, upstream_port=gunicorn_port
        )
        nginx = nginx_start(nginx_dir, main_conf, https_port)
        yield {
            "gunicorn": gunicorn_port,
            "https": https_port,
            "http": http_port,
            "var_dir": var_dir,
        }
    finally:
        if nginx is not None:
            nginx_stop(nginx)
        site_stop(proc)


@pytest.fixture(autouse=True)
def _quiet_self_signed_warnings():
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


def test_slow_header_clients_hold_every_sync_worker_directly_but_none_behind_nginx(site):
    assert SLOW_CONNECTIONS > WEB_CONCURRENCY
    proxied = f"https://127.0.0.1:{site['https']}/admin/login/"
    direct = f"http://127.0.0.1:{site['gunicorn']}/admin/login/"

    # Behind nginx: every normal request is answered while ten clients trickle headers.
    attack = SlowHeaders(tls_connector(site["https"]), SLOW_CONNECTIONS)
    try:
        statuses, latencies = _probe(proxied, 20)
        # nginx's client_header_timeout (10 s) cuts every one of them; gunicorn never saw them.
        deadline = time.monotonic() + 30
        while attack.closed_by_server < SLOW_CONNECTIONS and time.monotonic() < deadline:
            time.sleep(0.5)
        closed_by_proxy = attack.closed_by_server
    finally:
        attack.close()
    print(f"\nthrough nginx, {SLOW_CONNECTIONS} slow clients: {describe(latencies)}")
    assert statuses == [200] * 20
    assert closed_by_proxy == SLOW_CONNECTIONS

    # Straight at gunicorn: the same attack takes both workers, and a normal request waits
    # behind the slow ones in the listen queue until its client gives up.
    attack = SlowHeaders(plain_connector(site["gunicorn"]), SLOW_CONNECTIONS)
    try:
        time.sleep(1)  # both workers have accepted a slow connection
        blocked, _ = _probe(direct, 2)
    finally:
        attack.close()
    print(f"straight at gunicorn: {blocked.count(None)} of 2 requests not answered")
    assert blocked == [None, None]

    # Once the slow clients are gone, gunicorn answers again (the contrast was the attack).
    recovered, _ = _probe(direct, 3)
    assert recovered == [200, 200, 200]


def test_behind_nginx_the_site_sees_the_real_client_and_oversized_bodies_get_its_json_413(
    site,
):
    base = f"https://127.0.0.1:{site['https']}"
    # A forged X-Forwarded-For does not survive the proxy: nginx overwrites it with the peer
    # it saw, the one hop TRUSTED_PROXY_COUNT=1 believes. The sign-in ledger shows the
    # address the site took for the client.
    refused = requests.get(
        f"{base}/api/audits",
        auth=("nobody-here", "wrong"),
        headers={"X-Forwarded-For": "203.0.113.9"},
        timeout=PATIENCE_SECONDS,
        verify=False,
    )
    assert refused.status_code == 401
    recorded = site_manage(
        site["var_dir"],
        "shell",
        "--no-imports",
        "-c",
        "from integration_site.models import LoginFailure; "
        "print(sorted(LoginFailure.objects.values_list('remote_address', flat=True)))",
    )
    assert recorded.strip() == "['127.0.0.1']"

    # Over client_max_body_size (= API_MAX_BODY_BYTES), nginx answers in the site's format.
    too_large = requests.post(
        f"{base}/audit/v1/event",
        data=b"x" * (5 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
        timeout=PATIENCE_SECONDS,
        verify=False,
    )
    assert too_large.status_code == 413
    assert too_large.headers["Content-Type"] == "application/json"
    assert too_large.json()["code"] == "payload_too_large"

    # The plain port only redirects to TLS.
    redirect = requests.get(
        f"http://127.0.0.1:{site['http']}/admin/", timeout=PATIENCE_SECONDS, allow_redirects=False
    )
    assert redirect.status_code == 301
    assert redirect.headers["Location"].startswith("https://")


def test_gunicorn_binds_loopback_unless_host_says_otherwise():
    def bind(**env: str) -> str:
        environment = {k: v for k, v in os.environ.items() if k not in {"HOST", "PORT"}}
        printed = subprocess.run(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "--config",
                "integration_site/gunicorn_conf.py",
                "--print-config",
                "integration_site.wsgi:application",
            ],
            cwd=ROOT,
            env={**environment, **env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return next(line for line in printed.splitlines() if line.startswith("bind ")).split("=")[1]

    # gunicorn's own default with PORT set is every interface (0.0.0.0:$PORT).
    assert bind(PORT="9000").strip() == "['127.0.0.1:9000']"
    assert bind().strip() == "['127.0.0.1:8000']"
    assert bind(HOST="0.0.0.0", PORT="9000").strip() == "['0.0.0.0:9000']"


# docs/deploy/nginx.conf's search limits: `burst` per credential and per address, and how
# many past the rate pass at once (`delay`); the rest of the burst waits its turn in nginx.
CREDENTIAL_BURST = 20
ADDRESS_BURST = 40
CREDENTIAL_DELAY = 10
CREDENTIAL_RATE, ADDRESS_RATE = 2, 10  # a second
# How long a flood may take to arrive on a loaded machine: the buckets leak meanwhile, and
# that many more may pass.
SPREAD_SECONDS = 1


def _flood(
    site, path: str, source: str, headers: list[dict[str, str]], methods: list[str] | None = None
):
    """
    One request of `path` per entry of `headers` (GET, or the method of the same index in
    `methods`), all at once from loopback address `source` (the whole 127.0.0.0/8 reaches the
    listener on 127.0.0.1, and nginx counts each apart), over connections opened beforehand,
    so the flood arrives within milliseconds. Returns the responses, in the order of `headers`.
    """
    methods = methods or ["GET"] * len(headers)
    http = urllib3.PoolManager(
        source_address=(source, 0),
        cert_reqs="CERT_NONE",
        maxsize=len(headers),
        retries=False,
        timeout=PATIENCE_SECONDS * 2,
    )
    base = f"https://127.0.0.1:{site['https']}"
    with ThreadPoolExecutor(len(headers)) as pool:
        # TLS handshakes take longer than nginx's buckets take to leak: open (and keep) every
        # connection first, on a route nobody limits.
        list(pool.map(lambda _: http.request("GET", f"{base}/admin/login/"), headers))
        return list(
            pool.map(lambda m, h: http.request(m, base + path, headers=h), methods, headers)
        )


def _one(site, path: str, source: str, headers: dict[str, str], method: str = "GET"):
    http = urllib3.PoolManager(
        source_address=(source, 0), cert_reqs="CERT_NONE", retries=False, timeout=PATIENCE_SECONDS
    )
    return http.request(method, f"https://127.0.0.1:{site['https']}{path}", headers=headers)


def _statuses(responses) -> dict[int, int]:
    counted: dict[int, int] = {}
    for response in responses:
        counted[response.status] = counted.get(response.status, 0) + 1
    return counted


def test_searches_past_a_credentials_rate_get_nginxs_429_in_retraceds_body(site):
    # 30 searches at once with one (unknown) enterprise token and one with another token:
    # what passes reaches the site, which refuses the token (401 in Retraced's body); past
    # the first and its burst nginx refuses the rest without the site.
    path = "/enterprise/v1/graphql?query=%7Bsearch%7BtotalCount%7D%7D"
    headers = [{"Authorization": "token=loop-a"}] * 30 + [{"Authorization": "token=loop-b"}]
    responses = _flood(site, path, "127.0.0.2", headers)
    counted = _statuses(responses[:-1])
    print(f"\none credential, 30 at once: {counted}")
    assert set(counted) == {401, 429}
    assert (
        CREDENTIAL_DELAY + 1
        <= counted[401]
        <= CREDENTIAL_BURST + 1 + CREDENTIAL_RATE * SPREAD_SECONDS
    )
    refused = next(r for r in responses if r.status == 429)
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["Access-Control-Allow-Origin"] == "*"  # the viewer can read it
    assert refused.json() == {
        "status": 429,
        "type": "Error",
        "error": "Too many searches from this caller; retry after 1 second.",
    }
    assert responses[0].json()["type"] == "Error"  # the site's own answer, proxied
    # The other credential, from the same address in the same flood, kept its own share.
    assert responses[-1].status == 401


def test_one_address_minting_credentials_is_limited_but_not_its_preflights(site):
    path = "/viewer/v1/graphql"
    # 60 searches at once, each with a credential of its own, and a CORS preflight after
    # every third: the searches alone spend the address's share. Counted, the preflights
    # would be refused as often as the searches past the burst.
    headers, methods = [], []
    for n in range(60):
        headers.append({"Authorization": f"session-{n}"})
        methods.append("GET")
        if n % 3 == 2:
            headers.append({"Origin": "https://app.example"})
            methods.append("OPTIONS")
    responses = _flood(site, path, "127.0.0.4", headers, methods)
    searches = _statuses(r for r, m in zip(responses, methods, strict=True) if m == "GET")
    preflights = _statuses(r for r, m in zip(responses, methods, strict=True) if m == "OPTIONS")
    print(f"\n60 credentials and 20 preflights from one address: {searches}, {preflights}")
    assert set(searches) == {401, 429}
    assert searches[401] <= ADDRESS_BURST + 1 + ADDRESS_RATE * SPREAD_SECONDS
    assert preflights == {204: 20}
    # Another address is not limited by it.
    elsewhere = _one(site, path, "127.0.0.5", {"Authorization": "session-elsewhere"})
    assert elsewhere.status == 401


def test_foreman_searches_are_limited_in_foremans_body_and_other_routes_are_not(site):
    headers = [{"Authorization": "Bearer loop-c"}] * 30
    responses = _flood(site, "/api/audits", "127.0.0.6", headers)
    counted = _statuses(responses)
    print(f"\nForeman audits, one credential, 30 at once: {counted}")
    assert set(counted) == {401, 429}
    assert counted[401] <= CREDENTIAL_BURST + 1 + CREDENTIAL_RATE * SPREAD_SECONDS
    refused = next(r for r in responses if r.status == 429)
    assert refused.headers["Retry-After"] == "1"
    assert refused.json() == {
        "error": {"message": "Too many searches from this caller; retry after 1 second."}
    }
    # The same credential and address on a route that is not a search: never limited.
    others = _flood(site, "/api/hosts", "127.0.0.6", headers)
    assert _statuses(others) == {401: 30}
    # A real search through the limited location is answered in full.
    search = _one(
        site,
        "/api/audits?search=action%3Dcreate",
        "127.0.0.7",
        urllib3.make_headers(basic_auth=":".join(SUPERUSER)),
    )
    assert search.status == 200
    assert "results" in search.json()
