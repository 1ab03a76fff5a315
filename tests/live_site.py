"""
A live site started as `make run` starts it (scripts/run.sh: gunicorn and the task workers on a
free loopback port, the embedded SQLite default in a temporary directory), and the deployment's
nginx (docs/deploy/nginx.conf) rendered in front of it. Shared by the tests that need real
processes (tests/test_run_command.py, tests/hostile/) and by bench/hostile_load.py.
"""

import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "docs" / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)),
    None,
)
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
        proc = subprocess.Popen(
            ["./scripts/run.sh"],
            cwd=ROOT,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    proc.log_path = site_output_path(var_dir)
    return proc


def site_output_path(var_dir: Path) -> Path:
    """Where the run command serving `var_dir` writes its output (every run's, appended)."""
    return var_dir / "run-output.log"


def site_output(proc: subprocess.Popen) -> str:
    """What the run command printed so far (every run's, for a var dir served before)."""
    return proc.log_path.read_text(errors="replace")


def site_wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"run command exited early:\n{site_output(proc)}")
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still booting
            pass
        time.sleep(0.5)
    raise AssertionError(f"run command did not serve {url} in time")


def health_wait_until_up(url: str, headers: dict[str, str], timeout: float = 60) -> None:
    """Until /health passes (204): the task worker of the default queue has checked in."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, headers=headers, timeout=10).status_code == 204:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not pass in time")


def site_stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    return site_output(proc)


def site_manage(var_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """`manage.py <args>` on the live site's database; returns its standard output. `env`
    as given to `site_start` (DATABASE_URL for a site on PostgreSQL)."""
    child_env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    child_env.update(
        INTEGRATION_SITE_VAR_DIR=str(var_dir),
        DJANGO_SECRET_KEY=(var_dir / "secret_key").read_text().strip(),
        **(env or {}),
    )
    done = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", *args],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise AssertionError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


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


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "site.pem", directory / "site.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _substitute(text: str, pattern: str, replacement: str, count: int) -> str:
    """Replace `pattern`, which must occur exactly `count` times (the doc must not drift)."""
    rendered, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if found != count:
        raise AssertionError(f"{NGINX_CONF.name}: expected {count} of {pattern!r}, found {found}")
    return rendered


def nginx_render(directory: Path, *, https_port: int, http_port: int, upstream_port: int) -> Path:
    """
    docs/deploy/nginx.conf as deployed, with only what a machine-local run must change: the
    listening ports (loopback), the upstream's port, a throwaway certificate, and a main
    configuration of its own (no daemon, pid and logs in `directory`, the current user).
    Returns the main configuration file.
    """
    cert_path, key_path = _self_signed_certificate(directory)
    site = NGINX_CONF.read_text()
    site = _substitute(site, r"^\s*listen \[::\]:\d+.*\n", "", 2)  # loopback IPv4 only
    site = _substitute(site, r"listen 80;", f"listen 127.0.0.1:{http_port};", 1)
    site = _substitute(site, r"listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;", 1)
    site = _substitute(site, r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream_port};", 1)
    site = _substitute(site, r"ssl_certificate \S+;", f"ssl_certificate {cert_path};", 1)
    site = _substitute(site, r"ssl_certificate_key \S+;", f"ssl_certificate_key {key_path};", 1)
    (directory / "site.conf").write_text(site)
    # As root, nginx's workers would switch to `nobody`, who cannot write the temp paths here.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp_paths = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = directory / "nginx.conf"
    main.write_text(
        f"daemon off;\n{user}worker_processes 1;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} notice;\n"
        "events { worker_connections 512; }\n"
        "http {\n"
        f"    access_log {directory / 'access.log'};\n"
        f"{temp_paths}"
        f"    include {directory / 'site.conf'};\n"
        "}\n"
    )
    return main


def nginx_start(directory: Path, main_conf: Path, https_port: int) -> subprocess.Popen:
    """nginx in the foreground with `main_conf`; returns once it accepts connections."""
    proc = subprocess.Popen(
        [NGINX, "-p", str(directory), "-c", str(main_conf), "-e", str(directory / "error.log")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (
                (directory / "error.log").read_text() if (directory / "error.log").exists() else ""
            )
            raise AssertionError(f"nginx exited at start:\n{proc.stdout.read()}\n{log}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", https_port)) == 0:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("nginx did not listen in time")


def nginx_stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
