"""
Wrong HTTP Basic passwords from many clients at once, against gunicorn on loopback, while a
probe times GET /health over the second half of the run: once with the sign-in lockout off (IDENTITY_LOGIN_MAX_FAILURES=0
and IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS=0: every wrong password costs a PBKDF2 hash, as
before the ledger counted Basic failures) and once with the defaults (after a few failures,
429 before any hash). Throw-away SQLite database; /health answers 412 without a worker,
which does not matter here: only its latency is measured.

    .venv/bin/python bench/basic_auth_flood.py [--seconds 60] [--clients 30] [--workers 5]

Figures are noisy: 2 cores shared by gunicorn, this load generator and other work.
"""

import argparse
import base64
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 8768
WRONG = "Basic " + base64.b64encode(b"hammer:not-the-password").decode()


def flood(stop: float, statuses: dict[int, int], lock: threading.Lock) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    while time.monotonic() < stop:
        try:
            conn.request("GET", "/api/status", headers={"Authorization": WRONG})
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
            status = 0
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
    conn.close()


def probe(start: float, stop: float, latencies: list[float]) -> None:
    time.sleep(max(0.0, start - time.monotonic()))
    while time.monotonic() < stop:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        started = time.perf_counter()
        conn.request("GET", "/health")
        conn.getresponse().read()
        latencies.append((time.perf_counter() - started) * 1000)
        conn.close()
        time.sleep(0.1)


def case(label: str, env: dict, args) -> None:
    var = Path(tempfile.mkdtemp(prefix="basic-flood-"))
    env = {**env, "INTEGRATION_SITE_VAR_DIR": str(var)}
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    setup = (
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_superuser('hammer', password='the right one 42')"
    )
    subprocess.run([py, "manage.py", "shell", "-c", setup], cwd=ROOT, env=env, check=True)
    server = subprocess.Popen(
        [
            str(Path(py).parent / "gunicorn"),
            "integration_site.wsgi:application",
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{PORT}",
            "--timeout",
            "120",
            "--log-level",
            "error",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,  # django.request logs a line per refused request
    )
    try:
        time.sleep(4)
        stop = time.monotonic() + args.seconds
        statuses: dict[int, int] = {}
        latencies: list[float] = []
        lock = threading.Lock()
        threads = [
            threading.Thread(target=flood, args=(stop, statuses, lock)) for _ in range(args.clients)
        ]
        # The probe times the second half: the first wave of wrong passwords is hashed (and
        # queued behind) either way, before the ledger holds enough failures to lock.
        settled = stop - args.seconds / 2
        threads.append(threading.Thread(target=probe, args=(settled, stop, latencies)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"{label:<22} /health p50 {statistics.median(latencies):8.1f} ms  p99 {p99:8.1f} ms"
            f"  (n={len(latencies)})  flood statuses={dict(sorted(statuses.items()))}"
        )
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(var, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--workers", type=int, default=5)
    args = parser.parse_args()
    env = {
        **os.environ,
        "DJANGO_SECRET_KEY": "bench-only",
        "DJANGO_MANIFEST_STATIC": "0",
        "INTEGRATION_API_ANONYMOUS_NETWORKS": "127.0.0.0/8",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    off = {"IDENTITY_LOGIN_MAX_FAILURES": "0", "IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS": "0"}
    case("lockout off", {**env, **off}, args)
    case("lockout on (defaults)", env, args)


if __name__ == "__main__":
    main()
