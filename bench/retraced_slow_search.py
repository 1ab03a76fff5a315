"""
A flood of slow Retraced searches against one live site, with and without the slow-search
slots (`RETRACED_SEARCH_BUDGET_MS`, `RETRACED_SEARCH_BUSY_BUDGET_MS`, `SLOW_SEARCH_SLOTS`;
integration_site.db_limits.slow_read).

The site runs under gunicorn (sync workers) on a database `bench/audit_search.py` loaded. A
probe sends a cheap viewer search (a small group's first page and totalCount) in a loop and
times it: idle, then while `--attackers` threads send the viewer's slow search (a big group +
a common word, whose exact totalCount reads every match) as fast as they are answered, each
with a viewer session of its own, in `--attacker-groups` groups (1: one end user's token in
many tabs; more: tokens of that many customers). Each configuration is one phase; the phases
alternate `--rounds` times, so all see the same machine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_idx_1m DJANGO_SECRET_KEY=x \\
        .venv/bin/python -u bench/retraced_slow_search.py --budget-ms 100 --seconds 20

At 1M events the slow search takes ~0.3 s and the budget is scaled down with it (100 ms);
at 10M the same search takes 7-14 s against the default budget of 1,000 ms.

`--through-nginx`: the deployment's nginx (docs/deploy/nginx.conf, rendered as
tests/hostile/test_behind_nginx.py renders it) in front, the attackers from 127.0.0.1 and the
probe from 127.0.0.2 (another client). Two phases alternate, both with the budget and the
first busy budget: the file as deployed, and the same without its `limit_req` lines.
"""

import argparse
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import urllib3

from bench.kit import (
    django_setup,
    gunicorn_start,
    percentile,
    process_cpu_seconds,
    site_environment,
)
from tests.live_site import free_port, nginx_render, nginx_start, nginx_stop

PORT = 8791
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # nginx's throwaway cert
# Seconds between the probe's searches through nginx: within docs/deploy/nginx.conf's 2 per
# second per credential (straight at gunicorn it loops as fast as it is answered).
PROBE_INTERVAL_NGINX = 0.6
PROBE_GROUP = "group-290"  # small: its search is a few ms
SLOW_TEXT = "firewall"  # common: group-0's exact count reads ~13,000 matches at 1M
SEARCH = """query Search($query: String!, $last: Int) {
  search(query: $query, last: $last) {
    totalCount edges { cursor node { id action description created } }
  }
}"""


def postgres_cpu_seconds() -> float:
    """User + system CPU of every `postgres` process on the machine so far."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        total += process_cpu_seconds(int(proc.name))
    return total


def viewer_jwt(http: urllib3.PoolManager, group: str) -> str:
    from audits.retraced.viewer_services import viewer_token_create

    token = viewer_token_create(
        project="default", environment="production", group_id=group, actor_id="bench@acme"
    )
    response = http.request(
        "POST",
        f"http://127.0.0.1:{PORT}/viewer/v1/viewersession",
        body=json.dumps({"token": token}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200, response.data
    return json.loads(response.data)["token"]


def search(http: urllib3.PoolManager, base: str, jwt: str, text: str) -> tuple[int, float]:
    began = time.perf_counter()
    response = http.request(
        "POST",
        f"{base}/viewer/v1/graphql?skipViewLogEvent=true",
        body=json.dumps({"query": SEARCH, "variables": {"query": text, "last": 20}}),
        headers={"Content-Type": "application/json", "Authorization": jwt},
        retries=False,
        timeout=60,
    )
    return response.status, (time.perf_counter() - began) * 1000


def nginx_in_front(directory: Path, *, rate_limits: bool) -> tuple[object, str]:
    """nginx from docs/deploy/nginx.conf in front of the site on PORT, with or without its
    `limit_req` lines; returns the process and the base URL."""
    https_port = free_port()
    main_conf = nginx_render(
        directory, https_port=https_port, http_port=free_port(), upstream_port=PORT
    )
    if not rate_limits:
        site_conf = directory / "site.conf"
        site_conf.write_text(re.sub(r"^\s*limit_req .*\n", "", site_conf.read_text(), flags=re.M))
    return nginx_start(directory, main_conf, https_port), f"https://127.0.0.1:{https_port}"


def phase(
    label: str,
    *,
    budget_ms: int,
    busy_budget_ms: int,
    args,
    rows: list,
    rate_limits: bool | None = None,
) -> None:
    """One phase; `rate_limits` None: straight at gunicorn, else through nginx with or
    without its rate limits."""
    environment = site_environment(
        database="bench_idx_1m",
        settings_module="integration_site.settings",
        RETRACED_SEARCH_BUDGET_MS=str(budget_ms),
        RETRACED_SEARCH_BUSY_BUDGET_MS=str(busy_budget_ms),
        SLOW_SEARCH_SLOTS=str(args.slots),
        AUDIT_ANCHOR_PATH="/tmp/retraced-slow-search-anchors.jsonl",
        LOG_LEVEL="ERROR",  # not a line per 429
    )
    site = gunicorn_start(environment=environment, port=PORT, workers=args.workers)
    http = urllib3.PoolManager(maxsize=args.attackers + 2, cert_reqs="CERT_NONE")
    # The probe is another client: through nginx, from another loopback address.
    probe_http = urllib3.PoolManager(source_address=("127.0.0.2", 0), cert_reqs="CERT_NONE")
    base, nginx, nginx_dir = f"http://127.0.0.1:{PORT}", None, None
    try:
        for _ in range(100):
            try:
                http.request("GET", f"http://127.0.0.1:{PORT}/health", retries=False)
                break
            except urllib3.exceptions.HTTPError:
                time.sleep(0.2)
        if rate_limits is not None:
            nginx_dir = tempfile.TemporaryDirectory(prefix="bench-nginx-")
            nginx, base = nginx_in_front(Path(nginx_dir.name), rate_limits=rate_limits)
        probe_jwt = viewer_jwt(http, PROBE_GROUP)
        attacker_jwts = [
            viewer_jwt(http, f"group-{n % args.attacker_groups}") for n in range(args.attackers)
        ]
        for _ in range(5):  # warm every worker's connection and caches
            search(probe_http, base, probe_jwt, "")

        def probe_for(seconds: float) -> list[float]:
            """The probe's times; its refusals (a cheap search past the busy budget on a
            saturated machine) counted in `probe_refused`."""
            samples, end = [], time.monotonic() + seconds
            while time.monotonic() < end:
                status, ms = search(probe_http, base, probe_jwt, "")
                assert status in (200, 429), status
                probe_refused[0] += status == 429
                samples.append(ms)
                # Through nginx, the probe searches as a person does, within its rate.
                time.sleep(max(0.0, PROBE_INTERVAL_NGINX - ms / 1000) if nginx else 0.0)
            return samples

        probe_refused = [0]
        idle = probe_for(args.seconds / 2)
        stop = threading.Event()
        outcomes: list[tuple[int, float]] = []

        def attack(jwt: str) -> None:
            while not stop.is_set():
                outcomes.append(search(http, base, jwt, SLOW_TEXT))

        attackers = [
            threading.Thread(target=attack, args=(jwt,), daemon=True) for jwt in attacker_jwts
        ]
        cpu_before, began = postgres_cpu_seconds(), time.monotonic()
        for thread in attackers:
            thread.start()
        time.sleep(1)  # the flood is under way
        loaded = probe_for(args.seconds)
        stop.set()
        for thread in attackers:
            thread.join()
        elapsed = time.monotonic() - began
        cpu = postgres_cpu_seconds() - cpu_before
    finally:
        if nginx is not None:
            nginx_stop(nginx)
        if nginx_dir is not None:
            nginx_dir.cleanup()
        site.terminate()
        site.wait(timeout=30)
    answered = [ms for status, ms in outcomes if status == 200]
    refused = [ms for status, ms in outcomes if status == 429]
    other = sorted({status for status, _ in outcomes} - {200, 429})
    rows.append(
        (
            label,
            percentile(idle, 0.5),
            percentile(idle, 0.95),
            percentile(loaded, 0.5),
            percentile(loaded, 0.95),
            len(answered) / elapsed,
            statistics.median(answered) if answered else 0.0,
            len(refused) / elapsed,
            statistics.median(refused) if refused else 0.0,
            cpu / elapsed,
            probe_refused[0],
            other,
        )
    )
    print(*_format(rows[-1]), sep="  ", flush=True)


HEADER = (
    "phase",
    "idle p50",
    "p95",
    "flood p50",
    "p95",
    "200/s",
    "200 ms",
    "429/s",
    "429 ms",
    "PG cores",
    "probe 429",
    "other",
)


def _format(row) -> list[str]:
    label, *numbers, other = row
    return [f"{label:22}", *(f"{n:9.1f}" for n in numbers), str(other or "")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-ms", type=int, default=100)
    parser.add_argument(
        "--busy-budget-ms",
        default="50",
        help="one phase per value, comma-separated; not scaled down with the data as the budget"
        " is, since a cheap search's time on a saturated machine does not shrink with it",
    )
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--attackers", type=int, default=8)
    parser.add_argument(
        "--attacker-groups",
        type=int,
        default=1,
        help="the attackers' viewer sessions are of this many groups (1: one end user's)",
    )
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0, help="flood, per phase")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--through-nginx",
        action="store_true",
        help="phases: the deployment's nginx in front, without and with its rate limits",
    )
    args = parser.parse_args()
    django_setup()
    print(
        f"{args.attackers} attackers in {args.attacker_groups} group(s), {args.workers} "
        f"gunicorn workers, slots {args.slots}"
    )
    print(*(f"{h:22}" if i == 0 else f"{h:>9}" for i, h in enumerate(HEADER)), sep="  ")
    # The code before the slots; the slots with the whole budget whatever their state (session
    # 6); and with the busy budget while every slot is taken.
    busy_budgets = [int(busy) for busy in args.busy_budget_ms.split(",")]
    if args.through_nginx:
        phases = [
            ("nginx, no rate limits", args.budget_ms, busy_budgets[0], False),
            ("nginx, rate limits", args.budget_ms, busy_budgets[0], True),
        ]
    else:
        phases = [
            ("no budget (before)", 0, 1, None),
            (f"budget {args.budget_ms} ms + slots", args.budget_ms, args.budget_ms, None),
            *((f"+ busy budget {busy} ms", args.budget_ms, busy, None) for busy in busy_budgets),
        ]
    rows: list = []
    for _ in range(args.rounds):
        for label, budget_ms, busy_budget_ms, rate_limits in phases:
            phase(
                label,
                budget_ms=budget_ms,
                busy_budget_ms=busy_budget_ms,
                args=args,
                rows=rows,
                rate_limits=rate_limits,
            )

    def slowdown(label: str) -> float:
        """The probe's p95 under the flood / its idle p95 in the same phase, median of rounds."""
        return statistics.median(r[4] / r[2] for r in rows if r[0] == label)

    before = slowdown(phases[0][0])
    for label, *_ in phases:
        print(
            f"{label}: probe p95 under the flood {slowdown(label):.1f}x its idle p95 "
            f"({slowdown(label) / before:.2f} of before)"
        )


if __name__ == "__main__":
    main()
