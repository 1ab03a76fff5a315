"""
The three attacks of issue 14 against one live site, started as `make run` starts it (the
embedded SQLite default in a temporary directory, gunicorn sync workers, the task workers),
with the deployment's nginx (docs/deploy/nginx.conf) in front when nginx is installed. A probe
times `GET /health` while idle and during each attack, in the same run:

- a wrong-password flood: `--clients` threads sending wrong HTTP Basic passwords;
- the many-wildcard search `*e*e*e*e*e*e*e*x` over 20,000 events (20 worst-case), sent in a
  loop by `--clients` / 3 threads with a token;
- slow headers: `--slow` connections trickling their headers one byte at a time, through nginx
  (and, for contrast, straight at gunicorn, where the probe is not answered at all).

    .venv/bin/python bench/hostile_load.py [--seconds 20] [--clients 30] [--slow 10] [--workers 5]

Prints the probe's p50/p99 per phase and the ratio to the idle baseline of the same path.
Figures are noisy: the load generator shares the machine's cores with the site.
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import urllib3

from tests.hostile.attacks import (
    REDOS_SEARCH,
    Flood,
    Probe,
    SlowHeaders,
    basic_header,
    percentiles,
    plain_connector,
    tls_connector,
)
from tests.live_site import (
    NGINX,
    SUPERUSER,
    free_port,
    health_wait_until_up,
    nginx_render,
    nginx_start,
    nginx_stop,
    site_manage,
    site_start,
    site_stop,
    site_wait_until_up,
)

PATIENCE_SECONDS = 10
SEED_ROWS = """
from audits.models import ActorType, AuditEvent, AuditSource
common = {"source": AuditSource.SITE, "actor_type": ActorType.SYSTEM, "actor_name": "bench"}
AuditEvent.objects.bulk_create(
    [AuditEvent(action="bench.worst", description="e" * 60, **common) for _ in range(20)]
)
# One short transaction per 500 rows: SQLite has one writer, and the live site writes too.
for start in range(0, 20000, 500):
    AuditEvent.objects.bulk_create(
        [AuditEvent(action="bench.ordinary", description=f"event {n}", **common)
         for n in range(start, start + 500)]
    )
"""


def measure(url: str, seconds: float, headers: dict[str, str], **request_options) -> Probe:
    probe = Probe(url, patience=PATIENCE_SECONDS, headers=headers, **request_options)
    time.sleep(seconds)
    probe.close()
    return probe


def report(label: str, probe: Probe, baseline: Probe | None, note: str = "") -> None:
    p50, p99 = percentiles(probe.latencies_ms)
    answered = sum(1 for status in probe.statuses if status is not None)
    ratio = ""
    if baseline is not None:
        b50, b99 = percentiles(baseline.latencies_ms)
        if not math.isnan(p50):
            ratio = f"{p50 / b50:6.1f}x {p99 / b99:6.1f}x"
    print(
        f"{label:<38} p50 {p50:9.1f} ms  p99 {p99:9.1f} ms  "
        f"answered {answered:>3}/{len(probe.statuses):<3} {ratio:<16} {note}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="Per phase (default 20).")
    parser.add_argument("--clients", type=int, default=30, help="Flood clients (default 30).")
    parser.add_argument("--slow", type=int, default=10, help="Slow connections (default 10).")
    parser.add_argument("--workers", type=int, default=5, help="WEB_CONCURRENCY (default 5).")
    args = parser.parse_args()
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    with tempfile.TemporaryDirectory(prefix="hostile-load-") as tmp:
        var_dir, nginx_dir = Path(tmp) / "var", Path(tmp) / "nginx"
        var_dir.mkdir()
        nginx_dir.mkdir()
        port, https_port, http_port = free_port(), free_port(), free_port()
        site = site_start(
            var_dir, port, web_concurrency=args.workers, env={"TRUSTED_PROXY_COUNT": "1"}
        )
        nginx = None
        try:
            base = f"http://127.0.0.1:{port}"
            site_wait_until_up(f"{base}/admin/login/", site)
            secret = site_manage(var_dir, "create_api_token", "probe", "--scope", "health:read")
            probe_headers = {"Authorization": f"Bearer {secret.strip()}"}
            token = site_manage(
                var_dir, "create_api_token", "bench", "--scope", "audit:read"
            ).strip()
            health_wait_until_up(f"{base}/health", probe_headers)
            site_manage(var_dir, "shell", "--no-imports", "-c", SEED_ROWS)
            print(
                f"gunicorn: {args.workers} sync workers; probe: GET /health every 0.2 s, "
                f"{args.seconds:.0f} s per phase, patience {PATIENCE_SECONDS} s",
                flush=True,
            )
            idle = measure(f"{base}/health", args.seconds, probe_headers)
            report("idle (direct)", idle, None)

            flood = Flood(
                port,
                args.clients,
                "GET",
                "/api/status",
                {"Authorization": basic_header(SUPERUSER[0], "not-the-password")},
            )
            # The first wrong passwords are hashed until the ledger holds enough of them to
            # lock; the probe times what follows (the wave's length is printed).
            started = time.monotonic()
            while not flood.statuses[429] and time.monotonic() - started < 120:
                time.sleep(0.05)
            locked_after = time.monotonic() - started
            probe = measure(f"{base}/health", args.seconds, probe_headers)
            flood.close()
            statuses = dict(sorted(flood.statuses.items()))
            report(
                f"password flood, {args.clients} clients",
                probe,
                idle,
                f"locked after {locked_after:.1f} s; flood {statuses}",
            )

            searchers = max(1, args.clients // 3)
            search = Flood(
                port,
                searchers,
                "GET",
                f"/api/audits?search={quote(REDOS_SEARCH)}",
                {"Authorization": f"Bearer {token}"},
            )
            probe = measure(f"{base}/health", args.seconds, probe_headers)
            search.close()
            statuses = dict(sorted(search.statuses.items()))
            report(f"wildcard search, {searchers} clients", probe, idle, f"search {statuses}")

            if NGINX is None:
                print("nginx is not installed: the slow-client phases are skipped")
                return
            main_conf = nginx_render(
                nginx_dir, https_port=https_port, http_port=http_port, upstream_port=port
            )
            nginx = nginx_start(nginx_dir, main_conf, https_port)
            proxied = f"https://127.0.0.1:{https_port}/health"
            idle_proxied = measure(proxied, args.seconds, probe_headers, verify=False)
            report("idle (through nginx)", idle_proxied, None)

            slow = SlowHeaders(tls_connector(https_port), args.slow)
            probe = measure(proxied, args.seconds, probe_headers, verify=False)
            slow.close()
            report(f"slow headers, {args.slow} conns, via nginx", probe, idle_proxied)

            slow = SlowHeaders(plain_connector(port), args.slow)
            time.sleep(1)
            probe = measure(f"{base}/health", args.seconds, probe_headers)
            slow.close()
            report(f"slow headers, {args.slow} conns, direct", probe, idle)
        finally:
            if nginx is not None:
                nginx_stop(nginx)
            site_stop(site)


if __name__ == "__main__":
    main()
