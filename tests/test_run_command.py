"""The README's run command, end to end: a real gunicorn and worker on a free loopback port."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
import requests

from tests.live_site import (
    ROOT,
    free_port,
    site_output,
    site_start,
    site_stop,
    site_wait_until_up,
    site_worker_pids,
    wait_for,
)


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.mark.skipif(not (ROOT / ".venv/bin/gunicorn").exists(), reason="needs the project venv")
def test_run_command_serves_console_with_demo_data_and_stops_cleanly(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = site_start(tmp_path, port)
    try:
        site_wait_until_up(f"{base}/admin/login/", proc)
        session = requests.Session()
        login = session.get(f"{base}/admin/login/")
        # Static files are served (whitenoise, hashed names after collectstatic).
        css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', login.text)
        assert css, "admin CSS is not served under a hashed name"
        assert session.get(base + css.group(1)).status_code == 200
        # Far more output than a pipe holds (64 KiB; gunicorn logs each request line, here
        # 3 KB long): the site keeps answering, as nothing it writes may block it, and the
        # output is all kept.
        pad = "p" * 3000
        for _ in range(100):
            assert session.get(f"{base}{css.group(1)}?{pad}", timeout=10).status_code == 200
        response = session.post(
            f"{base}/admin/login/?next=/admin/",
            data={
                "username": "boss",
                "password": "a-long-demo-password-1",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": f"{base}/admin/login/"},
        )
        assert response.url == f"{base}/admin/"
        assert "Integration Site" in response.text
        events = session.get(f"{base}/admin/audits/auditevent/")
        assert "user.login.success" in events.text
        # The Retraced logs viewer, bundled from npm by the run command, on the page of a demo
        # customer's group.
        groups = session.get(f"{base}/admin/audits/auditevent/groups/")
        assert "Acme Corp" in groups.text
        group_log = session.get(f"{base}/admin/audits/auditevent/groups/log/?group=acme")
        bundle = re.search(
            r'src="(/static/audits/retraced/logs-viewer\.[0-9a-f]+\.js)"', group_log.text
        )
        assert bundle, "the logs viewer's bundle is not on the group's log page"
        script = session.get(base + bundle.group(1))
        assert script.status_code == 200
        assert "data-retraced-logs-viewer" in script.text
    finally:
        output = site_stop(proc)
    assert proc.returncode == 0, output
    assert "Stopping" in output
    assert output.count(pad) == 100
    # Both processes are gone: nothing listens on the port any more.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0

    db = tmp_path / "integration_site.sqlite3"
    users = _count(db, "SELECT count(*) FROM auth_user")
    demo = _count(db, "SELECT count(*) FROM audits_auditevent WHERE source = 'integration'")
    assert demo > 0

    # A second run loses nothing and duplicates nothing.
    proc = site_start(tmp_path, port)
    try:
        site_wait_until_up(f"{base}/admin/login/", proc)
    finally:
        site_stop(proc)
    assert _count(db, "SELECT count(*) FROM auth_user") == users
    assert _count(db, "SELECT count(*) FROM audits_auditevent WHERE source = 'integration'") == demo


@pytest.mark.skipif(not (ROOT / ".venv/bin/gunicorn").exists(), reason="needs the project venv")
def test_run_command_restarts_a_killed_worker_and_keeps_serving(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = site_start(tmp_path, port)
    try:
        site_wait_until_up(f"{base}/admin/login/", proc)
        # Two workers: the main one, and the one for update jobs (their own queue).
        first = wait_for(
            lambda: len(pids := site_worker_pids(proc)) == 2 and pids, 60, "both task workers"
        )
        commands = sorted(
            Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[2:-1] for pid in first
        )
        assert commands == [[b"worker"], [b"worker", b"--queue-name", b"updates,audits"]], commands
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        # The API keeps answering while the worker is down and restarted.
        assert requests.get(f"{base}/admin/login/", timeout=10).status_code == 200
        restarted = wait_for(
            lambda: len(pids := site_worker_pids(proc) - first) == 2 and pids,
            60,
            "new task workers after the kill",
        )
        assert restarted
        assert proc.poll() is None, "the run command must not stop when its worker dies"
        assert requests.get(f"{base}/admin/login/", timeout=10).status_code == 200

        # A chunked body (no Content-Length) through the real gunicorn is read whole.
        # Management commands work after the run command with nothing exported: settings
        # read the key it generated in var/secret_key.
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_DEBUG"}
        }
        env.update(INTEGRATION_SITE_VAR_DIR=str(tmp_path))
        secret = subprocess.run(
            [
                ".venv/bin/python",
                "manage.py",
                "create_api_token",
                "chunky",
                "--scope",
                "audit:write",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        chunks = iter([b'{"action": "chunked', b'.upload"}'])
        posted = requests.post(
            f"{base}/audit/v1/event",
            data=chunks,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            timeout=10,
        )
        assert posted.status_code == 201, posted.text
    finally:
        output = site_stop(proc)
    assert proc.returncode == 0, output
    assert "The task worker exited with status 137; restarting it in 1s" in output


@pytest.mark.skipif(not (ROOT / ".venv/bin/gunicorn").exists(), reason="needs the project venv")
def test_run_command_exits_non_zero_when_gunicorn_dies(tmp_path):
    port = free_port()
    proc = site_start(tmp_path, port)
    try:
        site_wait_until_up(f"http://127.0.0.1:{port}/admin/login/", proc)
        # gunicorn's master is the run command's own child; its workers are the master's.
        found = subprocess.run(
            ["pgrep", "-P", str(proc.pid), "-f", "bin/gunicorn"],
            capture_output=True,
            text=True,
        )
        masters = [int(pid) for pid in found.stdout.split()]
        assert len(masters) == 1, found.stdout
        os.kill(masters[0], signal.SIGKILL)
        proc.wait(timeout=60)
        output = site_output(proc)
    finally:
        if proc.poll() is None:
            site_stop(proc)
    # A supervisor set to restart on failure must see one; the worker went down with it.
    assert proc.returncode != 0, output
    assert "exited unexpectedly" in output
    assert not site_worker_pids(proc)
