"""
The official Retraced Node client, unmodified (`@retracedhq/retraced` from package-lock.json),
against the live site: tests/retraced_js/client.test.mjs runs under `node --test` with a key
made as the README says (`create_api_token NAME --scope audit:write --scope audit:read`).
"""

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
CLIENT_TEST = ROOT / "tests" / "retraced_js" / "client.test.mjs"
CLIENT_PACKAGE = ROOT / "node_modules" / "@retracedhq" / "retraced" / "package.json"
NODE = shutil.which("node")


@pytest.mark.skipif(
    NODE is None, reason="node (Node 20+) is not installed; apt-get install nodejs npm"
)
def test_official_node_client_against_the_live_site(live_server, transactional_db):
    if not CLIENT_PACKAGE.exists():
        pytest.fail("node_modules is not installed: run scripts/build_js.sh (npm ci)")
    secret = io.StringIO()
    call_command(
        "create_api_token",
        "retraced-js",
        "--scope",
        "audit:write",
        "--scope",
        "audit:read",
        stdout=secret,
        stderr=io.StringIO(),
    )
    env = {
        **os.environ,
        "RETRACED_ENDPOINT": live_server.url,
        "RETRACED_API_KEY": secret.getvalue().strip(),
        "RETRACED_PROJECT_ID": "default",
    }
    result = subprocess.run(
        [NODE, "--test", "--test-reporter=tap", str(CLIENT_TEST)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every test ran and passed (a test.only or a skip would hide one).
    assert "# pass 5" in output, output
    assert "# fail 0" in output, output
