"""RETRACED_URL_PREFIX moves every Retraced route, so a client's `/auditlog` endpoint keeps working."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json
import django
django.setup()
from django.urls import Resolver404, resolve
from integration_site.errors import is_api_path

def view(path):
    try:
        return resolve(path).func.view_class.__name__
    except Resolver404:
        return None

paths = [
    "/auditlog/publisher/v1/project/default/event",
    "/auditlog/viewer/v1/viewersession",
    "/auditlog/enterprise/v1/graphql",
    "/publisher/v1/project/default/event",
    "/audit/v1/event",
]
print(json.dumps({p: [view(p), is_api_path(p)] for p in paths}))
"""


def _probe(prefix: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "integration_site.settings",
        "DJANGO_SECRET_KEY": "test-only",
        "RETRACED_URL_PREFIX": prefix,
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_prefix_moves_every_retraced_api():
    routes = _probe("/auditlog/")
    assert routes["/auditlog/publisher/v1/project/default/event"] == ["PublisherEventView", True]
    assert routes["/auditlog/viewer/v1/viewersession"][0] == "ViewerSessionView"
    assert routes["/auditlog/enterprise/v1/graphql"][1] is True
    # Moved, not copied; the Replicated Audit API stays where Replicated put it.
    assert routes["/publisher/v1/project/default/event"][0] is None
    assert routes["/audit/v1/event"][0] == "AuditEventIngestView"


def test_without_a_prefix_the_routes_are_at_the_root():
    routes = _probe("")
    assert routes["/publisher/v1/project/default/event"] == ["PublisherEventView", True]
    assert routes["/auditlog/publisher/v1/project/default/event"][0] is None


def test_a_prefix_that_is_not_path_segments_stops_the_site():
    with pytest.raises(AssertionError, match="RETRACED_URL_PREFIX must be path segments"):
        _probe("audit log?")
