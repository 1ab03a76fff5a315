"""
A 100,000-row Foreman page (`GET /api/hosts?per_page=100000`), built whole as before (the
rows listed, serialized and rendered in memory: what every page did until pages were streamed)
and streamed as now, over the same rows, in the same run. Prints wall time and the peak of
Python memory (tracemalloc) for each, and the ratios.

    .venv/bin/python bench/foreman_page.py --rows 100000

It migrates a scratch SQLite file in a temporary directory unless --database-url names a
scratch PostgreSQL database (its tables are flushed), writes `--rows` hosts, and runs each
request through Django's test client with a superuser, consuming the whole body.
"""

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int, default=100_000)
parser.add_argument("--database-url", default="")
args = parser.parse_args()
_SCRATCH = tempfile.mkdtemp(prefix="page-bench-")
os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{_SCRATCH}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench")
os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
os.environ["AUDIT_API_MAX_PER_PAGE"] = str(max(args.rows, 100_000))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from audits.foreman import pagination  # noqa: E402
from audits.models import Host  # noqa: E402


def measure(client: APIClient) -> tuple[float, float, int]:
    tracemalloc.start()
    started = time.perf_counter()
    response = client.get("/api/hosts", {"per_page": args.rows})
    size = sum(
        len(part)
        for part in (response.streaming_content if response.streaming else [response.content])
    )
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return elapsed, peak / 2**20, size


def main() -> None:
    call_command("migrate", verbosity=0)
    if args.database_url:
        call_command("flush", interactive=False, verbosity=0)
    Host.objects.all().delete()
    Host.objects.bulk_create(
        (
            Host(name=f"host{n:07}.example.com", ip=f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
            for n in range(args.rows)
        ),
        batch_size=5000,
    )
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    client = APIClient()
    client.force_authenticate(user)
    client.get("/api/hosts", {"per_page": 10})  # warm imports and caches
    print(f"{connection.vendor}, {args.rows:,} hosts, Python {sys.version.split()[0]}")
    default_chunk = pagination.STREAM_CHUNK
    pagination.STREAM_CHUNK = 10**12  # every page built whole: the behaviour before streaming
    built = measure(client)
    pagination.STREAM_CHUNK = default_chunk
    streamed = measure(client)
    for label, (elapsed, peak, size) in (("built (before)", built), ("streamed (now)", streamed)):
        print(f"{label:16} {elapsed:6.2f} s  peak {peak:7.1f} MiB  body {size / 2**20:6.1f} MiB")
    print(
        f"streamed/built: time {streamed[0] / built[0]:.2f}x, "
        f"peak memory {streamed[1] / built[1]:.3f}x; bodies equal size: {built[2] == streamed[2]}"
    )


if __name__ == "__main__":
    main()
