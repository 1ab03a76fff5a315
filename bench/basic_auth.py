"""
HTTP Basic authentication on the Foreman API (hammer and apypie send username and password
with every request): per-request latency with the credential cache off
(BASIC_AUTH_CACHE_SECONDS=0, every request runs Django's PBKDF2) and on, in the same run,
in-process through Django's test client against the configured database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/basic_bench DJANGO_SECRET_KEY=x \\
        .venv/bin/python bench/basic_auth.py --requests 20
"""

import argparse
import base64
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integration_site.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from integration_site.authentication import basic_auth_cache_clear  # noqa: E402

PATH = "/api/audits?per_page=1"


def timed(client: Client, header: str, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(PATH, HTTP_AUTHORIZATION=header)
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    password = "bench-pass-phrase"
    user, _ = get_user_model().objects.get_or_create(
        username="bench-basic", defaults={"is_superuser": True, "is_staff": True}
    )
    user.set_password(password)
    user.save()
    header = "Basic " + base64.b64encode(f"bench-basic:{password}".encode()).decode()
    client = Client(HTTP_HOST="localhost")
    results = {}
    for label, ttl in (("cache off", 0), ("cache on", 300)):
        settings.BASIC_AUTH_CACHE_SECONDS = ttl
        basic_auth_cache_clear()
        latencies = timed(client, header, args.requests)
        results[label] = statistics.median(latencies)
        print(
            f"{label:<10} GET {PATH} with Basic: p50 {statistics.median(latencies):8.1f} ms  "
            f"max {max(latencies):8.1f} ms  (n={len(latencies)})"
        )
    print(f"cached / uncached p50: {results['cache on'] / results['cache off']:.3f}")


if __name__ == "__main__":
    main()
