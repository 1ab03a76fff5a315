"""Settings for bench/audit_ingest.py: the project's, plus the bare-Django ceiling view."""

from integration_site.settings import *  # noqa: F403 (the bench runs the real site)

ROOT_URLCONF = "bench.audit_ingest_urls"
