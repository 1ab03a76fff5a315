"""Settings for bench/monitoring_bench.py: the project's, plus a bare-Django ceiling view."""

from integration_site.settings import *  # noqa: F403 (the bench runs the real site)

ROOT_URLCONF = "bench.monitoring_bench_urls"
