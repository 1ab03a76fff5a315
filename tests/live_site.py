"""
A live site started as `make run` starts it (scripts/run.sh: gunicorn and the task workers on a
free loopback port, the embedded SQLite default in a temporary directory). Shared by the tests
that need real processes (tests/test_run_command.py, tests/hostile/).
"""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SUPERUSER = ("boss", "a-long-demo-password-1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_start(
    var_dir: Path,
    port: int,
    *,
    web_concurrency: int = 2,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen:
    """
    The run command on `port`, its data in `var_dir`, in a process group of its own.
    `preexec_fn` runs in the child before run.sh starts: what it sets (a resource limit)
    holds for every process of the site. Its output (gunicorn's access log, the workers'
    logs) goes to `site_output_path(var_dir)`, appended run after run: a pipe nobody reads
    until the site stops fills after 64 KiB, and then every process that logs (each request,
    each restart of a worker) blocks on its next write, so the site stalls.
    """
    child_env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    child_env.update(
        INTEGRATION_SITE_VAR_DIR=str(var_dir),
        PORT=str(port),
        WEB_CONCURRENCY=str(web_concurrency),
        DJANGO_SUPERUSER_USERNAME=SUPERUSER[0],
        DJANGO_SUPERUSER_PASSWORD=SUPERUSER[1],
        **(env or {}),
    )
    with site_output_path(var_dir).open("a") as output:
        return subprocess.Popen(
            ["./scripts/run.sh"],
            cwd=ROOT,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )


def site_output_path(var_dir: Path) -> Path:
    """Where the run command serving `var_dir` writes its output (every run's, appended)."""
    return var_dir / "run-output.log"


def site_output(var_dir: Path) -> str:
    return site_output_path(var_dir).read_text(errors="replace")


def site_wait_until_up(
    url: str, proc: subprocess.Popen, var_dir: Path, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"run command exited early:\n{site_output(var_dir)}")
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still booting
            pass
        time.sleep(0.5)
    raise AssertionError(f"run command did not serve {url} in time")


def site_stop(proc: subprocess.Popen, var_dir: Path) -> str:
    """Stop the run command (as Ctrl-C would) and return its output, every run's so far."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    return site_output(var_dir)


def site_manage(var_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """`manage.py <args>` on the live site's database; returns its standard output. `env`
    as given to `site_start` (DATABASE_URL for a site on PostgreSQL)."""
    child_env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    child_env.update(
        INTEGRATION_SITE_VAR_DIR=str(var_dir),
        DJANGO_SECRET_KEY=(var_dir / "secret_key").read_text().strip(),
        **(env or {}),
    )
    return subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", *args],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def site_worker_pids(proc: subprocess.Popen) -> set[int]:
    """The `manage.py worker` processes the run command started (its own process group)."""
    found = subprocess.run(
        ["pgrep", "-g", str(proc.pid), "-f", "manage.py worker"],
        capture_output=True,
        text=True,
    )
    return {int(pid) for pid in found.stdout.split()}


def wait_for(condition, timeout: float, what: str):
    """condition()'s first true value, polled every half second for `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")
