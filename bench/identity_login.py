"""
Identity API through gunicorn on loopback: requests/second for POST /identity/v1/login
against the site's own users and against a real slapd (started here, seeded like the tests),
and GET /identity/v1/user/:name on slapd, each as a ratio against GET /identity/v1/sources
(no directory work) from the same run. Throw-away SQLite database, anonymous access from
127.0.0.0/8.

    .venv/bin/python bench/identity_login.py [--seconds 5] [--threads 4]

Figures are noisy: 2 cores shared by gunicorn, slapd, this load generator and other work.
"""

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PORT = 8767

from bench.kit import gunicorn_start, run_threads, throwaway_site_environment  # noqa: E402 (after sys.path)
from identity.tests import ldap_server  # noqa: E402 (after sys.path)


def run(method: str, path: str, body: dict | None, seconds: float, threads: int):
    counts, statuses = [0] * threads, {}
    stop = time.monotonic() + seconds
    payload = json.dumps(body) if body else None

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        while time.monotonic() < stop:
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            counts[i] += 1
            statuses[response.status] = statuses.get(response.status, 0) + 1
        conn.close()

    run_threads(worker, threads)
    return sum(counts) / seconds, statuses


def start_slapd(workdir: Path) -> tuple[subprocess.Popen, int]:
    (workdir / "data").mkdir()
    config = workdir / "slapd.conf"
    config.write_text(ldap_server.slapd_config(workdir))
    (workdir / "seed.ldif").write_text(ldap_server.seed_ldif())
    subprocess.run(
        [ldap_server.SLAPADD, "-f", str(config), "-l", str(workdir / "seed.ldif")],
        check=True,
        capture_output=True,
    )
    port = ldap_server.free_port()
    process = subprocess.Popen(
        [ldap_server.SLAPD, "-f", str(config), "-h", f"ldap://127.0.0.1:{port}/", "-d", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


SETUP = """
from django.contrib.auth import get_user_model
from identity.models import DirectorySource
from identity.services import directory_source_set_bind_password
get_user_model().objects.create_user(username="sam", password="sam bench password 1")
s = DirectorySource(name="bench", host="127.0.0.1", port={port}, base_dn="{base}",
    user_search_dn="{users}", group_search_dn="{groups}", bind_dn="{reader}")
directory_source_set_bind_password(source=s, password="{password}")
s.save()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    if not ldap_server.slapd_available():
        sys.exit("slapd is not installed (apt-get install -y slapd ldap-utils)")
    var = Path(tempfile.mkdtemp(prefix="identity-bench-"))
    (var / "slapd").mkdir()
    slapd, ldap_port = start_slapd(var / "slapd")
    env = throwaway_site_environment(
        var,
        # Successful logins only, but keep the lockout out of the way of the load generator.
        IDENTITY_LOGIN_MAX_FAILURES="0",
        IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS="0",
    )
    py = sys.executable
    setup = SETUP.format(
        port=ldap_port,
        base=ldap_server.BASE_DN,
        users=ldap_server.USERS_DN,
        groups=ldap_server.GROUPS_DN,
        reader=ldap_server.READER_DN,
        password=ldap_server.READER_PASSWORD,
    )
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([py, "manage.py", "shell", "-c", setup], cwd=ROOT, env=env, check=True)
    server = gunicorn_start(environment=env, port=PORT, workers=2)
    try:
        time.sleep(3)
        cases = [
            ("baseline GET /identity/v1/sources", "GET", "/identity/v1/sources", None),
            (
                "POST login, LDAP user (search+groups+bind)",
                "POST",
                "/identity/v1/login",
                {"username": "alice", "password": "alice-password"},
            ),
            ("GET /identity/v1/user/bob (LDAP)", "GET", "/identity/v1/user/bob", None),
            (
                "POST login, site user (PBKDF2 1.2M)",
                "POST",
                "/identity/v1/login?hostname=integration-site",
                {"username": "sam", "password": "sam bench password 1"},
            ),
        ]
        run("GET", "/identity/v1/sources", None, 1, args.threads)  # warm-up
        baseline = None
        for label, method, path, body in cases:
            rate, statuses = run(method, path, body, args.seconds, args.threads)
            baseline = baseline or rate
            print(
                f"{label:45s} {rate:8.1f} req/s  ratio {rate / baseline:5.3f}  statuses={statuses}"
            )
    finally:
        server.terminate()
        server.wait()
        if slapd:
            slapd.terminate()
            slapd.wait()
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
