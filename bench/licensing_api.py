"""
Licensing read APIs through gunicorn on loopback: requests/second for GET /license/v1/license,
GET /console/v1/option, GET /version/v1/updates and GET /version/v1/jobs/:id, each as a
ratio against GET /health (one trivial query plus the heartbeat lookup) measured in the same
run. Uses a throw-away SQLite database with the demo data, anonymous access from 127.0.0.0/8.

    .venv/bin/python bench/licensing_api.py [--seconds 5] [--threads 4]

Figures are noisy: 2 cores shared by gunicorn, this load generator and other work.
"""

import argparse
import http.client
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PORT = 8765

from bench.kit import gunicorn_start, run_threads, throwaway_site_environment  # noqa: E402 (after sys.path)


def run(path: str, seconds: float, threads: int) -> tuple[float, int]:
    counts = [0] * threads
    errors = [0] * threads
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        while time.monotonic() < stop:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            counts[i] += 1
            errors[i] += response.status >= 500
        conn.close()

    run_threads(worker, threads)
    return sum(counts) / seconds, sum(errors)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    var = tempfile.mkdtemp(prefix="licensing-bench-")
    env = throwaway_site_environment(var)
    py = sys.executable
    for command in (["migrate", "-v0"], ["bootstrap"]):
        subprocess.run(
            [py, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True
        )
    server = gunicorn_start(environment=env, port=PORT, workers=2)
    try:
        time.sleep(3)
        paths = {
            "baseline GET /health": "/health",
            "GET /license/v1/license": "/license/v1/license",
            "GET /console/v1/option?name=hostname": "/console/v1/option?name=hostname",
            "GET /version/v1/updates": "/version/v1/updates",
            "GET /version/v1/jobs/1": "/version/v1/jobs/1",
        }
        run("/health", 1, args.threads)  # warm-up
        baseline = None
        for label, path in paths.items():
            rate, errors = run(path, args.seconds, args.threads)
            baseline = baseline or rate
            print(f"{label:40s} {rate:8.0f} req/s  ratio {rate / baseline:4.2f}  5xx={errors}")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
