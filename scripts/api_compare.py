#!/usr/bin/env python
"""
Prove that a restructuring left the HTTP API unchanged.

    cd <tree> && .venv/bin/python <wt-compare>/scripts/api_compare.py snapshot /tmp/api-compare/x.json
    python scripts/api_compare.py compare /tmp/api-compare/old.json /tmp/api-compare/new.json

`snapshot` runs with cwd = a project tree and that tree's Python (about a minute). It touches
the project only through what every version of it has: `django.setup()` with
`integration_site.settings`; the management commands migrate, bootstrap (demo data),
create_api_token, license_sign, license_install, releases_import and `worker --once` (which
links pending audit events, drains queued Sensu results and runs update jobs), plus a
background `manage.py worker` at the very end so /health can answer 204; Django's own auth
models for the site users who sign in; the admin's forms (public URLs) for hosts, locations,
organizations and an LDAP source, which are edited nowhere else; and HTTP requests through
Django's test Client (the full middleware stack). It never imports a project module by dotted
path: those move. The database is a throwaway SQLite file in a temporary var dir.

It issues a fixed, ordered sequence of requests covering every route of the README's API map
(successes and the client errors the docs list), records each answer (status, the headers that
matter, the body and how its JSON was laid out), normalises run-specific values (UUIDs,
SHA-256 and 32/40-hex ids, token secrets and prefixes, vendor key ids, timestamps and epoch
seconds near now, countdowns, lockout durations, CSRF tokens, nonces, pids, the temp dir) into
stable placeholders, numbered by first appearance where identity matters, and writes the lot
with the OpenAPI schema as JSON. `--keep-raw` also writes OUT.raw.json, unnormalised (it holds
the run's token secrets: keep it in /tmp).

`compare` prints every difference request by request (status, kept headers, JSON layout, body
with key order) and compares the OpenAPI schemas structurally (paths, operations, parameters by
name and location, request bodies, responses, components by name), ignoring description,
summary and title text and `info`. Exit status 0 when equivalent, else 1.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

SNAPSHOT_FORMAT = 1
SECRET_KEY = "api-compare-fixed-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
ADMIN_USER, ADMIN_PASSWORD = "admin", "Admin-Compare-Pass-1"
STAFF_USER, STAFF_PASSWORD = "compare-staff", "Staff-Compare-Pass-2"
PLAIN_USER, PLAIN_PASSWORD = "compare-plain", "Plain-Compare-Pass-3"
ADA_PASSWORD = "Ada-Compare-Pass-4"
HOST = "localhost"
# The shortest periodic job (the Sensu results drain) runs every second.
WORKER_SPACING_SECONDS = 1.2

# Response headers worth comparing; Date, X-Request-ID, cookies, Vary, CSP and the like are not.
KEPT_HEADERS = (
    "Content-Type",
    "Location",
    "X-Pagination",
    "Apipie-Checksum",
    "Idempotent-Replayed",
    "WWW-Authenticate",
    "Retry-After",
    "Allow",
    "X-Audit-Event-Id",
    "X-Audit-Event-Hash",
)

# Tokens by name: the scopes the README's API map names for each area, plus tokens that lack
# a scope (for 403s) and a second bookmark owner (for another owner's 403/404).
TOKENS: dict[str, list[str]] = {
    "audit-writer": ["audit:write"],
    "audit-reader": ["audit:read"],
    "audit-verifier": ["audit:verify"],
    "bookmark-writer": ["bookmark:write", "audit:read"],
    "bookmark-other": ["bookmark:write", "audit:read"],
    "license-reader": ["license:read"],
    "console-reader": ["console:read"],
    "version-reader": ["version:read"],
    "version-applier": ["version:apply", "version:read"],
    "status-writer": ["status:write"],
    "identity-reader": ["identity:read"],
    "monitoring-reader": ["monitoring:read"],
    "monitoring-writer": ["monitoring:write", "monitoring:read"],
    "health-reader": ["health:read"],
}

LICENSE_PAYLOAD: dict[str, Any] = {
    "license_id": "api-compare-license-0001",
    "assignee": "API Compare Ltd",
    "release_channel": "Stable",
    "license_type": "paid",
    "expiration_time": "2099-12-31T23:59:59Z",
    "expiration_policy": "ignore",
    "fields": [
        {"field": "max_hosts", "title": "Maximum Hosts", "type": "Integer", "value": 42},
        {"field": "account", "title": "Account", "type": "String", "value": "Compare"},
        {"field": "sso_enabled", "title": "SSO", "type": "Boolean", "value": False},
        {
            "field": "support_notes",
            "title": "Support notes",
            "type": "Text",
            "value": "line one\nline two\n",
            "hide_from_customer": True,
        },
    ],
}

RELEASES_MANIFEST = {
    "channel": "Stable",
    "releases": [
        {
            "sequence": 104,
            "version": "2.4.0",
            "release_date": "2025-01-15T00:00:00Z",
            "required": True,
            "release_notes": "Compare: required release.",
        },
        {
            "sequence": 105,
            "version": "2.5.0",
            "release_date": "2025-02-15T00:00:00Z",
            "required": False,
            "release_notes": "Compare: optional release.",
        },
        {
            "sequence": 106,
            "version": "2.6.0-beta",
            "release_date": "2025-03-15T00:00:00Z",
            "channel": "Beta",
            "release_notes": "Compare: another channel.",
        },
    ],
}


# The README's "API map", one (method, path pattern) per route; `snapshot` reports which the
# sequence reached. /incidents is listed with /events as its alias, so both are here.
N = r"[\w.-]+"
README_ROUTES: list[tuple[str, str]] = [
    ("GET", r"/health"),
    ("GET", r"/api/schema/"),
    ("GET", r"/api/docs/"),
    ("GET", r"/license/v1/license"),
    ("GET", r"/license/v1/field/[^/]+"),
    ("GET", r"/console/v1/option"),
    ("GET", r"/console/v1/auth"),
    ("POST", r"/console/v1/auth"),
    ("GET", r"/identity/v1/sources"),
    ("POST", r"/identity/v1/login"),
    ("GET", r"/identity/v1/user/[^/]+"),
    ("GET", r"/identity/v1/user/[^/]+/exists"),
    ("GET", r"/version/v1/current"),
    ("GET", r"/version/v1/updates"),
    ("PUT", r"/version/v1/\d+"),
    ("GET", r"/version/v1/jobs/\d+"),
    ("PUT", r"/status/v1/startup"),
    ("POST", r"/audit/v1/event"),
    ("POST", r"/audit/v1/event/bulk"),
    ("GET", r"/audit/v1/verify"),
    ("GET", r"/api/audits"),
    ("GET", r"/api/audits/(?!auto_complete_search)[^/]+"),
    ("GET", r"/api/hosts/[^/]+/audits"),
    ("GET", r"/api/audits/auto_complete_search"),
    ("GET", r"/api/hosts"),
    ("GET", r"/api/hosts/[^/]+"),
    ("GET", r"/api/locations"),
    ("GET", r"/api/locations/[^/]+"),
    ("GET", r"/api/organizations"),
    ("GET", r"/api/organizations/[^/]+"),
    ("GET", r"/api/bookmarks"),
    ("GET", r"/api/bookmarks/[^/]+"),
    ("POST", r"/api/bookmarks"),
    ("PUT", r"/api/bookmarks/[^/]+"),
    ("DELETE", r"/api/bookmarks/[^/]+"),
    ("GET", r"/api/status"),
    ("GET", r"/apidoc/v2\.json"),
    ("GET", r"/events"),
    ("GET", rf"/events/{N}"),
    ("GET", rf"/events/{N}/{N}"),
    ("GET", r"/incidents"),
    ("GET", rf"/incidents/{N}"),
    ("GET", rf"/incidents/{N}/{N}"),
    ("DELETE", rf"/events/{N}/{N}"),
    ("POST", r"/resolve"),
    ("GET", r"/clients"),
    ("POST", r"/clients"),
    ("GET", rf"/clients/{N}"),
    ("DELETE", rf"/clients/{N}"),
    ("GET", rf"/clients/{N}/history"),
    ("GET", r"/checks"),
    ("GET", rf"/checks/{N}"),
    ("DELETE", rf"/checks/{N}"),
    ("POST", r"/request"),
    ("GET", r"/results"),
    ("POST", r"/results"),
    ("GET", rf"/results/{N}"),
    ("GET", rf"/results/{N}/{N}"),
    ("DELETE", rf"/results/{N}/{N}"),
    ("GET", r"/silenced"),
    ("POST", r"/silenced"),
    ("GET", r"/silenced/ids/[^/]+"),
    ("GET", r"/silenced/subscriptions/[^/]+"),
    ("GET", rf"/silenced/checks/{N}"),
    ("POST", r"/silenced/clear"),
    ("GET", r"/stashes"),
    ("POST", r"/stashes"),
    ("GET", r"/stash(es)?/.+"),
    ("POST", r"/stash(es)?/.+"),
    ("DELETE", r"/stash(es)?/.+"),
    ("GET", r"/aggregates"),
    ("GET", rf"/aggregates/{N}"),
    ("GET", rf"/aggregates/{N}/clients"),
    ("GET", rf"/aggregates/{N}/checks"),
    ("GET", rf"/aggregates/{N}/results/{N}"),
    ("GET", r"/info"),
    ("GET", r"/settings"),
]


def readme_coverage(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """README routes reached by at least one request, and those never reached."""
    reached, missed = [], []
    for method, pattern in README_ROUTES:
        regex = re.compile(pattern)
        hit = any(
            r["method"] == method and regex.fullmatch(r["path"].split("?", 1)[0]) for r in records
        )
        (reached if hit else missed).append(f"{method} {pattern}")
    return {"reached": reached, "missed": missed}


# --- Normalisation ------------------------------------------------------------------------

UUID_RE = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
HEX64_RE = re.compile(r"\b[0-9a-f]{64}\b")
HEX40_RE = re.compile(r"\b[0-9a-f]{40}\b")
HEX32_RE = re.compile(r"\b[0-9a-f]{32}\b")
# Date-times as the peers print them: ISO 8601 / RFC 3339 (any fraction, Z or offset),
# Ruby's "YYYY-MM-DD HH:MM:SS UTC", and Replicated's seven-digit fraction.
TIME_RE = re.compile(
    r"\b(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2}| UTC)?"
)
CSRF_RE = re.compile(r'(name="csrfmiddlewaretoken" value="|"X-CSRFTOKEN"\] = ")[^"]+(")')
# Process ids in messages ("Started on vm (pid 22997).").
PID_RE = re.compile(r"\bpid \d+\b")
NONCE_RE = re.compile(r'(nonce=")[^"]+(")')
# Worker ids: "<hostname>-<pid>-<6 random chars>".
WORKER_ID_RE = re.compile(r"\b[\w.-]+-\d+-[A-Za-z0-9]{6}\b")
# A lockout's remaining time ("try again in 894 seconds", DRF's "Expected available in ...").
SECONDS_RE = re.compile(r"\b(try again in|available in) \d+ (seconds?)\b")
AGO_RE = re.compile(r"\b\d+ (seconds?|minutes?) ago\b")
# Countdowns Sensu reports under these keys (a stash's or silence's remaining seconds).
COUNTDOWN_KEYS = frozenset({"expire"})
DAY_SECONDS = 86_400
# Run-specific moments are those within this distance of the snapshot; fixed ones
# (release dates, license expiry, `created` values we send) stay literal.
NEAR = timedelta(days=200)


class Normaliser:
    """Replaces run-specific values by placeholders, numbered per kind by first appearance."""

    def __init__(self, *, now: datetime, secrets: dict[str, str]) -> None:
        self.now = now
        self.low = (now - NEAR).timestamp()
        self.high = (now + NEAR).timestamp()
        self.numbers: dict[str, dict[str, str]] = {}
        # Longest first, so a token is replaced before its own prefix.
        self.secrets = sorted(secrets.items(), key=lambda item: -len(item[0]))

    def numbered(self, kind: str, value: str) -> str:
        table = self.numbers.setdefault(kind, {})
        if value not in table:
            table[value] = f"<{kind}#{len(table) + 1}>"
        return table[value]

    def near_now(self, epoch: float) -> bool:
        return self.low <= epoch <= self.high

    def _time(self, match: re.Match) -> str:
        year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
        second = int(match.group(6) or 0)
        try:
            moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
        except ValueError:
            return match.group(0)
        return "<time>" if self.near_now(moment.timestamp()) else match.group(0)

    def text(self, value: str) -> str:
        for secret, placeholder in self.secrets:
            if secret and secret in value:
                value = value.replace(secret, placeholder)
        value = UUID_RE.sub(lambda m: self.numbered("uuid", m.group(0).lower()), value)
        value = HEX64_RE.sub(lambda m: self.numbered("sha256", m.group(0)), value)
        value = HEX40_RE.sub(lambda m: self.numbered("hex40", m.group(0)), value)
        value = HEX32_RE.sub(lambda m: self.numbered("hex32", m.group(0)), value)
        value = TIME_RE.sub(self._time, value)
        value = CSRF_RE.sub(r"\1<csrf>\2", value)
        value = NONCE_RE.sub(r"\1<nonce>\2", value)
        value = PID_RE.sub("pid <pid>", value)
        value = SECONDS_RE.sub(r"\1 <duration> \2", value)
        value = AGO_RE.sub(r"<duration> \1 ago", value)
        return WORKER_ID_RE.sub(
            lambda m: "<worker-id>" if m.group(0).startswith(_HOSTNAME_PREFIX) else m.group(0),
            value,
        )

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            # Epoch seconds (Sensu's executed/issued/timestamp) and milliseconds near now.
            if self.near_now(value) or self.near_now(value / 1000):
                return "<epoch>"
            return value
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {self.text(str(k)): self.item(str(k), v) for k, v in value.items()}
        return value

    def item(self, key: str, value: Any) -> Any:
        if key in COUNTDOWN_KEYS and isinstance(value, int) and not isinstance(value, bool):
            # Counts down while the snapshot runs: 3599 and 3600 are the same hour. One that
            # starts in the future (a silence's `begin`) depends on the clock: no bucket.
            if value > DAY_SECONDS:
                return "<countdown>"
            return f"<countdown<={-(-value // 60) * 60}>" if value > 0 else value
        return self.value(value)

    def header(self, name: str, value: str) -> str:
        if name == "Retry-After" and value.isdigit():
            return "<duration>"
        return self.text(value)


_HOSTNAME_PREFIX = os.uname().nodename[:40]


def json_layout(raw: str, parsed: Any) -> str:
    """How the JSON was laid out, so a change of separators or escaping shows up."""
    for name, kwargs in (
        ("compact", {"separators": (",", ":"), "ensure_ascii": False}),
        ("compact-ascii", {"separators": (",", ":"), "ensure_ascii": True}),
        ("spaced", {"separators": (", ", ": "), "ensure_ascii": False}),
        ("spaced-ascii", {"separators": (", ", ": "), "ensure_ascii": True}),
        ("indented", {"indent": 2, "ensure_ascii": False}),
        ("indented-ascii", {"indent": 2, "ensure_ascii": True}),
    ):
        if json.dumps(parsed, **kwargs) == raw:
            return name
    return "other"


# --- Snapshot -----------------------------------------------------------------------------


class Recorder:
    """Issues requests through Django's test Client and keeps the raw answers."""

    def __init__(self, tokens: dict[str, str]) -> None:
        from django.test import Client

        self.tokens = tokens
        self.anonymous = Client(raise_request_exception=False, HTTP_HOST=HOST)
        self.session = Client(raise_request_exception=False, HTTP_HOST=HOST)
        self.records: list[dict[str, Any]] = []
        self.last: dict[str, Any] = {}

    def auth_header(self, auth: str | tuple | None) -> dict[str, str]:
        if auth is None or auth == "session":
            return {}
        if isinstance(auth, tuple):
            _kind, user, password = auth
            credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
            return {"Authorization": f"Basic {credentials}"}
        return {"Authorization": f"Bearer {self.tokens[auth]}"}

    def __call__(
        self,
        method: str,
        path: str,
        *,
        auth: str | tuple | None = None,
        json_body: Any = None,
        raw: str | None = None,
        form: dict[str, Any] | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        keep_body: bool = True,
        label: str = "",
    ) -> dict[str, Any]:
        client = self.session if auth == "session" else self.anonymous
        all_headers = {**self.auth_header(auth), **(headers or {})}
        kwargs: dict[str, Any] = {"headers": all_headers}
        body_repr: Any = None
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body)
            kwargs["content_type"] = content_type
            body_repr = json_body
        elif raw is not None:
            kwargs["data"] = raw
            kwargs["content_type"] = content_type
            body_repr = {"raw": raw, "content_type": content_type}
        elif form is not None:
            if method == "GET":
                kwargs["data"] = form
            else:
                kwargs["data"] = urlencode(form, doseq=True)
                kwargs["content_type"] = "application/x-www-form-urlencoded"
            body_repr = {"form": form}
        if raw is not None and len(raw) > 10_000:
            body_repr = {"raw": f"<{len(raw)} characters>", "content_type": content_type}
        started = time.monotonic()
        response = (
            client.generic(method, path, **kwargs)
            if method
            not in (
                "GET",
                "HEAD",
                "OPTIONS",
            )
            else getattr(client, method.lower())(path, **kwargs)
        )
        content = (
            response.content
            if not getattr(response, "streaming", False)
            else b"".join(response.streaming_content)
        )
        text = content.decode("utf-8", errors="replace")
        content_type_out = response.headers.get("Content-Type", "")
        body: Any = text
        layout = None
        parsed = None
        if "json" in content_type_out and text.strip():
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            else:
                body = parsed
                layout = json_layout(text, parsed)
        record = {
            "method": method,
            "path": path,
            "label": label,
            "auth": auth if not isinstance(auth, tuple) else f"basic:{auth[1]}",
            "request_headers": dict(headers or {}),
            "request_body": body_repr,
            "status": response.status_code,
            "headers": {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers},
            "json_layout": layout,
            "body": body if keep_body else "<body omitted>",
            "seconds": round(time.monotonic() - started, 3),
        }
        self.records.append(record)
        self.last = {"status": response.status_code, "body": parsed, "headers": response.headers}
        return self.last


class FormFields(HTMLParser):
    """The fields of a Django admin change form with their current values."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, list[str]] = {}
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.values.setdefault(name, []).append(a.get("value") or "on")
            else:
                self.values.setdefault(name, []).append(a.get("value", ""))
        elif tag == "select" and name:
            self.select = name
            self.values.setdefault(name, [])
        elif tag == "option" and self.select and "selected" in a:
            self.values[self.select].append(a.get("value", ""))
        elif tag == "textarea" and name:
            self.textarea = name
            self.values[name] = [""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            # Django renders a newline right after <textarea>; browsers drop it.
            current = self.values[self.textarea][0] + data
            self.values[self.textarea] = [current.removeprefix("\n")]


@contextmanager
def quiet() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    with redirect_stdout(buffer), redirect_stderr(buffer):
        yield buffer


def command(*args: Any, **options: Any) -> str:
    """Run a management command in-process; return what it printed on stdout."""
    from django.core.management import call_command

    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue()


def prepare_environment(tmp: Path) -> None:
    var = tmp / "var"
    var.mkdir()
    os.environ.pop("DATABASE_URL", None)
    for name in list(os.environ):
        # Whatever the caller's shell configures must not leak into the snapshot.
        if name.startswith(("DJANGO_", "IDENTITY_", "MONITORING_", "AUDIT_", "LICENSE_")):
            del os.environ[name]
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "integration_site.settings",
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "INTEGRATION_SITE_VAR_DIR": str(var),
            "DJANGO_MANIFEST_STATIC": "0",
            "DJANGO_SUPERUSER_USERNAME": ADMIN_USER,
            "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
            "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
            "DEMO_DATA": "1",
            "LOG_LEVEL": "CRITICAL",
            "TRUSTED_PROXIES": "",
            "TRUSTED_PROXY_COUNT": "0",
            "INTEGRATION_API_ANONYMOUS_NETWORKS": "",
            "UPDATE_STEP_DELAY_SECONDS": "0",
        }
    )


def manage(*args: str) -> str:
    """`manage.py ARGS` in a child process with this environment; its stdout."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def generate_vendor_key(tmp: Path) -> tuple[Path, str]:
    """`license_sign --generate-key` in a child process: its public key must be in the
    environment before django.setup() reads the settings."""
    key_dir = tmp / "vendor-key"
    out = manage("license_sign", "--generate-key", str(key_dir))
    match = re.search(r"^LICENSE_VENDOR_PUBLIC_KEYS=(\S+)$", out, re.MULTILINE)
    if match is None:
        raise SystemExit(f"license_sign --generate-key printed no key:\n{out}")
    private = next(p for p in key_dir.iterdir() if "priv" in p.name)
    return private, match.group(1)


def snapshot(out_path: Path, *, keep_raw: bool) -> None:
    if not Path("manage.py").is_file():
        raise SystemExit("Run `snapshot` from a project tree (where manage.py is), with its .venv.")
    out_path = out_path.resolve()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="api-compare-"))
    try:
        prepare_environment(tmp)
        # The demo data installs a license signed with the DEMO key, trusted only while
        # LICENSE_VENDOR_PUBLIC_KEYS is empty: migrate and bootstrap run in child processes
        # before the vendor key generated here is put in the environment.
        manage("migrate", "--no-input", "--verbosity", "0")
        manage("bootstrap")
        private_key, public_key = generate_vendor_key(tmp)
        os.environ["LICENSE_VENDOR_PUBLIC_KEYS"] = public_key
        sys.path.insert(0, str(Path.cwd()))
        import django

        django.setup()
        logging.disable(logging.CRITICAL)  # 4xx warnings and task chatter are not the point
        package = Path(sys.modules["integration_site"].__file__ or "").resolve()
        if not package.is_relative_to(Path.cwd().resolve()):
            raise SystemExit(f"integration_site was imported from {package}, not from this tree.")
        now = datetime.now(UTC)
        secrets: dict[str, str] = {str(tmp): "<tmp>", public_key: "<vendor-public-key>"}
        tokens = {}
        for name, scopes in TOKENS.items():
            secret = command("create_api_token", name, "--scope", ",".join(scopes)).strip()
            tokens[name] = secret
            secrets[secret] = f"<token:{name}>"
            secrets[secret[:10]] = f"<token-prefix:{name}>"
        for password in (ADMIN_PASSWORD, STAFF_PASSWORD, PLAIN_PASSWORD, ADA_PASSWORD):
            secrets[password] = "<password>"
        site_users_create()
        recorder = Recorder(tokens)
        steps = Steps(recorder, tmp=tmp, private_key=private_key, secrets=secrets)
        steps.run()
        normaliser = Normaliser(now=now, secrets=secrets)
        coverage = readme_coverage(recorder.records)
        records = [normalise_record(normaliser, record) for record in recorder.records]
        schema = normaliser.value(steps.schema)
        document = {
            "format": SNAPSHOT_FORMAT,
            "tree": str(Path.cwd()),
            "requests": records,
            "coverage": coverage,
            "schema": schema,
        }
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
        if keep_raw:
            raw_path = out_path.with_suffix(".raw.json")
            raw_path.write_text(json.dumps(recorder.records, indent=1, ensure_ascii=False))
        print(
            f"{len(records)} requests ({len(route_keys(records))} distinct method+path), "
            f"{len(coverage['reached'])} of {len(README_ROUTES)} README API-map routes, "
            f"written to {out_path} in {time.monotonic() - started:.1f} s"
        )
        for missed in coverage["missed"]:
            print(f"  not reached: {missed}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def normalise_record(normaliser: Normaliser, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": record["method"],
        "path": normaliser.text(record["path"]),
        "label": record["label"],
        "auth": record["auth"],
        "request_headers": normaliser.value(record["request_headers"]),
        "request_body": normaliser.value(record["request_body"]),
        "status": record["status"],
        "headers": {k: normaliser.header(k, v) for k, v in record["headers"].items()},
        "json_layout": record["json_layout"],
        "body": normaliser.value(record["body"]),
    }


def site_users_create() -> None:
    """Site users for sign-in: Django's own auth models (not a project module).

    A staff user, a non-staff one (refused by /console/v1/auth) and a password for the demo
    user 'ada' (who belongs to demo groups) so the Identity API returns her groups."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    User.objects.create_user(
        username=STAFF_USER,
        password=STAFF_PASSWORD,
        email="staff@example.com",
        is_staff=True,
        first_name="Sam",
        last_name="Staff",
    )
    User.objects.create_user(username=PLAIN_USER, password=PLAIN_PASSWORD, email="")
    ada = User.objects.get(username="ada")
    ada.set_password(ADA_PASSWORD)
    ada.save()


def route_key(method: str, path: str) -> str:
    """A request's method and path without its query string (the distinct-call count)."""
    path = path.split("?", 1)[0]
    return f"{method} {path}"


def route_keys(records: list[dict[str, Any]]) -> set[str]:
    return {route_key(r["method"], r["path"]) for r in records}


class Steps:
    """The fixed, ordered request sequence. Each section feeds the reads that follow it."""

    def __init__(
        self, call: Recorder, *, tmp: Path, private_key: Path, secrets: dict[str, str]
    ) -> None:
        self.call = call
        self.secrets = secrets
        self.tmp = tmp
        self.private_key = private_key
        self.schema: Any = None
        self.last_tick = time.monotonic() - WORKER_SPACING_SECONDS

    def run(self) -> None:
        self.admin_data()
        self.platform()
        self.audit_ingest()
        self.foreman()
        self.bookmarks()
        self.licensing()
        self.console()
        self.identity()
        self.versions()
        self.status()
        self.monitoring()
        self.closing()

    def worker_tick(self) -> None:
        """One tick of `manage.py worker`: links pending audit events, drains queued Sensu
        results, runs update jobs and due periodic jobs. The results drain runs every second:
        a tick sooner than that after the previous one would skip it, so wait that long."""
        wait = self.last_tick + WORKER_SPACING_SECONDS - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        with quiet():
            command("worker", once=True, interval=0)
            command("worker", once=True, interval=0, queue_name="updates")
        self.last_tick = time.monotonic()

    # --- setup through the admin (hosts and taxonomies are edited there only) -------------

    def admin_form(self, path: str, values: dict[str, str]) -> None:
        """Submit an admin add/change form as a browser would: the form's own fields with
        their current values (whatever fields this version has), `values` changed."""
        page = self.call.session.get(path)
        parser = FormFields()
        parser.feed(page.content.decode())
        fields: dict[str, Any] = {
            k: v for k, v in parser.values.items() if k != "csrfmiddlewaretoken"
        }
        fields.update(values)
        fields.setdefault("_save", "Save")
        self.call("POST", path, auth="session", form=fields, keep_body=False, label="admin form")

    def admin_data(self) -> None:
        call = self.call
        call.session.login(username=ADMIN_USER, password=ADMIN_PASSWORD)
        form_posts = [
            (
                "/admin/audits/location/add/",
                {"name": "Berlin", "title": "Berlin", "description": "HQ"},
            ),
            ("/admin/audits/location/add/", {"name": "Paris", "title": "", "description": ""}),
            (
                "/admin/audits/organization/add/",
                {"name": "ACME", "title": "ACME Inc", "description": ""},
            ),
            (
                "/admin/audits/host/add/",
                {
                    "name": "web1.example.com",
                    "ip": "192.0.2.10",
                    "mac": "00:11:22:33:44:55",
                    "comment": "first",
                    "location": "1",
                    "organization": "1",
                },
            ),
            (
                "/admin/audits/host/add/",
                {
                    "name": "db1.example.com",
                    "ip": "",
                    "mac": "",
                    "comment": "",
                    "location": "",
                    "organization": "",
                },
            ),
            (
                "/admin/audits/host/1/change/",
                {
                    "name": "web1.example.com",
                    "ip": "192.0.2.11",
                    "mac": "00:11:22:33:44:55",
                    "comment": "moved",
                    "location": "2",
                    "organization": "1",
                },
            ),
        ]
        for path, form in form_posts:
            self.admin_form(path, form)

    # --- platform -------------------------------------------------------------------------

    def platform(self) -> None:
        call = self.call
        call("GET", "/health", label="401 no token")
        call("GET", "/health", auth="license-reader", label="403 wrong scope")
        call("GET", "/health", auth="health-reader", label="412 no worker yet")
        call("POST", "/health", auth="health-reader", label="wrong method")
        call("GET", "/", label="redirect to the admin")
        call("GET", "/no/such/route", auth="audit-reader", label="404 unknown route")
        call("GET", "/apidoc/v2.json", label="public apidoc")
        call("GET", "/apidoc/v2.en.json", label="apidoc with language")
        call("GET", "/api/schema/?format=json", label="schema 401")
        call("GET", "/api/schema/?format=json", auth="audit-reader", label="schema 403 token")
        call(
            "GET",
            "/api/schema/?format=json",
            auth=("basic", PLAIN_USER, PLAIN_PASSWORD),
            label="schema 403 non-staff",
        )
        schema = call(
            "GET",
            "/api/schema/?format=json",
            auth=("basic", ADMIN_USER, ADMIN_PASSWORD),
            keep_body=False,
            label="schema (Basic staff)",
        )
        self.schema = schema["body"]
        again = call(
            "GET",
            "/api/schema/?format=json",
            auth="session",
            keep_body=False,
            label="schema (session)",
        )
        same = again["body"] == self.schema
        call.records[-1]["body"] = (
            f"<{'same' if same else 'NOT the same'} schema as with Basic auth>"
        )
        call("GET", "/api/docs/", auth="session", label="Swagger UI")

    # --- audit ingest ---------------------------------------------------------------------

    def audit_ingest(self) -> None:
        call = self.call
        path = "/audit/v1/event"
        call("POST", path, json_body={"action": "api.compare.anonymous"}, label="401")
        call(
            "POST",
            path,
            auth="audit-reader",
            json_body={"action": "api.compare.denied"},
            label="403",
        )
        call(
            "POST",
            path,
            auth="audit-writer",
            json_body={"action": "api.compare.one"},
            label="minimal (fast path)",
        )
        call(
            "POST",
            path,
            auth="audit-writer",
            json_body={
                "action": "document.share",
                "name": "document",
                "title": "Document Shared",
                "description": "Compare shared a document",
                "ip_address": "198.51.100.7",
                "crud": "u",
                "actor": {
                    "id": "actor-1",
                    "name": "Alice Compare",
                    "href": "https://example.com/u/1",
                    "fields": {"dept": "qa"},
                },
                "target": {
                    "id": "doc-9",
                    "name": "Plan",
                    "type": "Document",
                    "href": "https://example.com/d/9",
                    "fields": {"size": 12},
                },
                "group": {"id": "grp-1", "name": "Team"},
                "is_failure": False,
                "is_anonymous": False,
                "fields": {"k": "v", "n": 3, "b": True},
                "metadata": {"trace": "abc"},
                "created": "2024-05-06T07:08:09Z",
                "external_id": "ext-1",
                "component": "web",
                "version": "1.2.3",
            },
            label="full Retraced event",
        )
        call("POST", path, auth="audit-writer", raw="{not json", label="400 bad JSON")
        call("POST", path, auth="audit-writer", raw="", label="400 empty body")
        call("POST", path, auth="audit-writer", json_body=["action"], label="400 not an object")
        call(
            "POST",
            path,
            auth="audit-writer",
            json_body={"action": "ok.action", "bogus": 1},
            label="400 unknown field",
        )
        call(
            "POST",
            path,
            auth="audit-writer",
            json_body={"action": "bad action!"},
            label="400 bad action",
        )
        call(
            "POST",
            path,
            auth="audit-writer",
            json_body={"action": "x", "crud": "z", "created": "yesterday"},
            label="400 bad crud/created",
        )
        call(
            "POST",
            path,
            auth="audit-writer",
            json_body={"action": "x", "ip_address": "fe80::1%eth0"},
            label="400 zoned IPv6",
        )
        call(
            "POST",
            path,
            auth="audit-writer",
            raw='{"action": "api.compare.text"}',
            content_type="text/plain",
            label="text/plain body",
        )
        key = {"Idempotency-Key": "compare-key-1"}
        call(
            "POST",
            path,
            auth="audit-writer",
            json_body={"action": "api.compare.idem"},
            headers=key,
            label="idempotent first",
        )
        call(
            "POST",
            path,
            auth="audit-writer",
            json_body={"action": "api.compare.idem"},
            headers=key,
            label="idempotent replay",
        )
        call(
            "POST",
            path,
            auth="audit-writer",
            json_body={"action": "api.compare.other"},
            headers=key,
            label="422 key reused",
        )
        call(
            "POST",
            path,
            auth="audit-writer",
            json_body={"action": "api.compare.idem"},
            headers={"Idempotency-Key": "k" * 300},
            label="400 key too long",
        )
        call("GET", path, auth="audit-writer", label="wrong method")
        too_big = json.dumps({"action": "api.compare.big", "description": "x" * (5 * 1024 * 1024)})
        call("POST", path, auth="audit-writer", raw=too_big, label="413 over API_MAX_BODY_BYTES")
        bulk = "/audit/v1/event/bulk"
        events = {
            "events": [
                {"action": "api.compare.bulk1", "actor": {"id": "7", "name": "Bulk"}},
                {
                    "action": "api.compare.bulk2",
                    "target": {"id": "1", "type": "Host::Base", "name": "web1.example.com"},
                },
            ]
        }
        call("POST", bulk, auth="audit-writer", json_body=events, label="bulk 201")
        call(
            "POST",
            bulk,
            auth="audit-writer",
            json_body={"events": [{"action": "ok"}, {"bogus": 1}, {"action": ""}]},
            label="bulk 400 per event",
        )
        call(
            "POST",
            bulk,
            auth="audit-writer",
            json_body={"events": [], "extra": 1},
            label="bulk 400 unknown key",
        )
        call("POST", bulk, auth="audit-writer", json_body={"events": []}, label="bulk 400 empty")
        call("POST", bulk, auth="audit-writer", json_body=[1], label="bulk 400 not an object")
        call("POST", bulk, auth="audit-writer", raw="[", label="bulk 400 bad JSON")
        bulk_key = {"Idempotency-Key": "compare-bulk-1"}
        idem = {"events": [{"action": "api.compare.bulk3"}]}
        call(
            "POST",
            bulk,
            auth="audit-writer",
            json_body=idem,
            headers=bulk_key,
            label="bulk idempotent first",
        )
        call(
            "POST",
            bulk,
            auth="audit-writer",
            json_body=idem,
            headers=bulk_key,
            label="bulk idempotent replay",
        )
        call(
            "POST",
            bulk,
            auth="audit-writer",
            json_body={"events": [{"action": "z"}]},
            headers=bulk_key,
            label="bulk 422",
        )
        call("POST", bulk, label="bulk 401")
        call("POST", bulk, auth="health-reader", json_body=idem, label="bulk 403")
        call("GET", "/audit/v1/verify", auth="audit-verifier", label="verify (links pending)")
        call("GET", "/audit/v1/verify", auth="audit-writer", label="verify 403")
        call("GET", "/audit/v1/verify", label="verify 401")
        self.worker_tick()

    # --- Foreman-compatible API -----------------------------------------------------------

    def foreman(self) -> None:
        call = self.call
        reader = "audit-reader"
        call("GET", "/api/audits", label="401")
        call("GET", "/api/audits", auth="health-reader", label="403")
        call(
            "GET",
            "/api/audits",
            auth=("basic", ADMIN_USER, "wrong-password"),
            label="401 bad Basic",
        )
        call(
            "GET",
            "/api/audits?per_page=5",
            auth=("basic", ADMIN_USER, ADMIN_PASSWORD),
            label="Basic admin",
        )
        call(
            "GET",
            "/api/audits?per_page=5",
            auth=("basic", STAFF_USER, STAFF_PASSWORD),
            label="Basic staff without scope",
        )
        call("GET", "/api/audits", auth=reader, label="default page")
        for query in (
            "search=action = api.compare.one",
            "search=action ~ compare&order=id ASC",
            "search=action ~ bulk&order=action DESC",
            'search=time > "2 days ago" and action ~ compare&per_page=3',
            "search=type = host",
            "search=host = web1.example.com",
            "search=Compare",
            "search=user = admin&per_page=3",
            "search=is_failure = true",
            "search=action = ",
            "search=bogus_field = 1",
            "order=bogus",
            "order=id sideways",
            "per_page=2&page=2",
            "per_page=abc",
            "page=-1",
            "per_page=4294967296&search=action ~ compare",
            "location_id=1",
            "organization_id=1",
            "location_id=999",
            "per_page=all&search=action ~ compare",
        ):
            call("GET", f"/api/audits?{query}", auth=reader, label="list")
        call("GET", "/api/audits/1", auth=reader, label="show")
        call("GET", "/api/audits/1?location_id=999", auth=reader, label="show 404 taxonomy")
        call("GET", "/api/audits/999999", auth=reader, label="show 404")
        call("GET", "/api/audits/abc", auth=reader, label="show 404 non-numeric")
        call("POST", "/api/audits", auth=reader, json_body={}, label="wrong method")
        call("GET", "/api/hosts/1/audits", auth=reader, label="host audits by id")
        call(
            "GET",
            "/api/hosts/web1.example.com/audits?per_page=2",
            auth=reader,
            label="host audits by name",
        )
        call("GET", "/api/hosts/gone.example.com/audits", auth=reader, label="host audits, unknown")
        for search in (
            "",
            "act",
            "action = ",
            "action = api.",
            "type = ",
            "user ",
            "bogus_field = ",
        ):
            call(
                "GET",
                f"/api/audits/auto_complete_search?search={search}",
                auth=reader,
                label="auto complete",
            )
        call(
            "GET",
            "/api/audits/auto_complete_search",
            auth="health-reader",
            label="auto complete 403",
        )
        for kind, one, name in (
            ("hosts", "1", "web1.example.com"),
            ("locations", "1", "Paris"),
            ("organizations", "1", "ACME"),
        ):
            call("GET", f"/api/{kind}", auth=reader, label="list")
            call("GET", f"/api/{kind}?search=name ~ e&order=name DESC", auth=reader, label="search")
            call("GET", f"/api/{kind}?search=bogus = 1", auth=reader, label="400 search")
            call("GET", f"/api/{kind}/{one}", auth=reader, label="show by id")
            call("GET", f"/api/{kind}/{name}", auth=reader, label="show by name")
            call("GET", f"/api/{kind}/999", auth=reader, label="404")
            call("DELETE", f"/api/{kind}/{one}", auth=reader, label="wrong method")
        call("GET", "/api/status", auth=reader, label="status")
        call("GET", "/api/status", label="status 401")

    # --- bookmarks --------------------------------------------------------------------------

    def bookmarks(self) -> None:
        call = self.call
        writer, other = "bookmark-writer", "bookmark-other"
        path = "/api/bookmarks"
        call("GET", path, auth="audit-reader", label="demo bookmarks")
        call("GET", path, auth="health-reader", label="403")
        private = {
            "bookmark": {
                "name": "Compare private",
                "controller": "audits",
                "query": "action ~ compare",
                "public": False,
            }
        }
        created = call("POST", path, auth=writer, json_body=private, label="create wrapped")
        private_id = (created["body"] or {}).get("id", 0)
        public = {
            "name": "Compare public",
            "controller": "hosts",
            "query": "name ~ web",
            "public": True,
        }
        created = call("POST", path, auth=writer, json_body=public, label="create unwrapped")
        public_id = (created["body"] or {}).get("id", 0)
        call("POST", path, auth=writer, json_body=private, label="422 duplicate name")
        call(
            "POST",
            path,
            auth=writer,
            json_body={
                "bookmark": {"name": "Bad query", "controller": "audits", "query": "action = = ="}
            },
            label="422 bad query",
        )
        call(
            "POST",
            path,
            auth=writer,
            json_body={"bookmark": {"name": "Bad controller", "controller": "nope", "query": "x"}},
            label="422 bad controller",
        )
        call(
            "POST",
            path,
            auth=writer,
            json_body={"bookmark": {"controller": "audits"}},
            label="422 missing fields",
        )
        call("POST", path, auth=writer, raw="{", label="400 bad JSON")
        call("POST", path, auth="audit-reader", json_body=private, label="403 no bookmark:write")
        call("POST", path, json_body=private, label="401")
        call("GET", f"{path}/{private_id}", auth=writer, label="show own private")
        call("GET", f"{path}/{private_id}-Compare private", auth=writer, label="show by id-name")
        call("GET", f"{path}/Compare public", auth=writer, label="show by name")
        call("GET", f"{path}/{private_id}", auth=other, label="404 another's private")
        call("GET", f"{path}/999", auth=writer, label="404")
        for query in (
            "search=name ~ Compare",
            "search=public = true&order=name DESC",
            "search=controller = audits",
            "search=bogus = 1",
            "per_page=1&page=2",
        ):
            call("GET", f"{path}?{query}", auth=writer, label="list")
        call(
            "PUT",
            f"{path}/{private_id}",
            auth=writer,
            json_body={"bookmark": {"query": "action = api.compare.one"}},
            label="update",
        )
        call(
            "PUT",
            f"{path}/{private_id}",
            auth=writer,
            json_body={"bookmark": {"query": "action = = ="}},
            label="422 update bad query",
        )
        call(
            "PUT",
            f"{path}/{public_id}",
            auth=other,
            json_body={"bookmark": {"public": False}},
            label="403 another's public",
        )
        call(
            "PUT",
            f"{path}/{private_id}",
            auth=other,
            json_body={"bookmark": {"public": False}},
            label="404 another's private",
        )
        call(
            "PUT",
            f"{path}/1",
            auth=writer,
            json_body={"bookmark": {"name": "Hijack"}},
            label="403 demo bookmark",
        )
        call("DELETE", f"{path}/{public_id}", auth=other, label="403 delete another's")
        call("DELETE", f"{path}/{public_id}", auth=writer, label="delete own")
        call("GET", f"{path}/{public_id}", auth=writer, label="404 after delete")
        call(
            "PATCH",
            f"{path}/{private_id}",
            auth=writer,
            json_body={"bookmark": {"public": True}},
            label="PATCH",
        )
        call("GET", path, auth=other, label="list as the other owner")
        call(
            "GET",
            "/api/audits?search=type = Bookmark",
            auth="audit-reader",
            label="400: Bookmark is not one of Foreman's types",
        )

    # --- licensing ---------------------------------------------------------------------------

    def licensing(self) -> None:
        call = self.call
        reader = "license-reader"
        call("GET", "/license/v1/license", auth=reader, label="the demo license")
        call("GET", "/license/v1/field/max_hosts", auth=reader, label="a demo field")
        payload = self.tmp / "license.json"
        payload.write_text(json.dumps(LICENSE_PAYLOAD))
        signed = self.tmp / "license.signed.json"
        with quiet():
            command("license_sign", str(payload), key=str(self.private_key), output=str(signed))
            command("license_install", str(signed))
            # The DEMO key's id, as the audit trail records the demo license's signer.
            demo_signed = command("license_sign", str(payload), demo_key=True)
        for document, name in ((signed.read_text(), "vendor"), (demo_signed, "demo")):
            key_id = json.loads(document).get("key_id")
            if key_id:
                self.secrets[key_id] = f"<key-id:{name}>"
        call("GET", "/license/v1/license", auth=reader, label="installed")
        for field in ("max_hosts", "account", "sso_enabled", "support_notes", "nope"):
            call("GET", f"/license/v1/field/{field}", auth=reader, label="field")
        call(
            "GET",
            "/license/v1/license",
            auth=reader,
            headers={"Accept": "text/html"},
            label="400 Accept",
        )
        call(
            "GET",
            "/license/v1/license",
            auth=reader,
            headers={"Accept": "application/json"},
            label="Accept json",
        )
        call("GET", "/license/v1/license", auth="console-reader", label="403")
        call("GET", "/license/v1/license", label="401")
        call("POST", "/license/v1/license", auth=reader, json_body={}, label="wrong method")
        for name in (
            "hostname",
            "http.proxy.enabled",
            "tls.config.option",
            "snapshot.schedule",
            "",
            "nope",
        ):
            call("GET", f"/console/v1/option?name={name}", auth="console-reader", label="option")
        call("GET", "/console/v1/option", auth="console-reader", label="400 no name")
        call("GET", "/console/v1/option?name=hostname", auth="license-reader", label="403")
        call(
            "GET",
            "/console/v1/option?name=hostname",
            auth="console-reader",
            headers={"Accept": "application/json"},
            label="Accept ignored",
        )

    # --- console sign-in -----------------------------------------------------------------------

    def console(self) -> None:
        call = self.call
        path = "/console/v1/auth"
        token = "console-reader"
        call("GET", path, auth=token, label="form")
        call("GET", path, label="401")
        call("GET", path, auth="identity-reader", label="403")
        call(
            "POST",
            path,
            auth=token,
            json_body={"username": STAFF_USER, "password": STAFF_PASSWORD},
            label="200 staff",
        )
        call(
            "POST",
            path,
            auth=token,
            form={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
            label="200 form-encoded",
        )
        call(
            "POST",
            path,
            auth=token,
            json_body={"username": PLAIN_USER, "password": PLAIN_PASSWORD},
            label="401 not staff",
        )
        call(
            "POST",
            path,
            auth=token,
            json_body={"username": STAFF_USER, "password": "nope"},
            label="401 bad password",
        )
        call(
            "POST",
            path,
            auth=token,
            json_body={"username": "x\u0000y", "password": "p"},
            label="400 control char",
        )
        call("POST", path, auth=token, json_body={}, label="400 missing fields")
        call("POST", path, auth=token, raw="{", label="400 bad JSON")
        call(
            "POST",
            path + "?hostname=nope",
            auth=token,
            json_body={"username": STAFF_USER, "password": STAFF_PASSWORD},
            label="400 no source",
        )
        for attempt in range(5):
            call(
                "POST",
                path,
                auth=token,
                json_body={"username": "locked-console", "password": "bad"},
                label=f"failure {attempt + 1}",
            )
        call(
            "POST",
            path,
            auth=token,
            json_body={"username": "locked-console", "password": "bad"},
            label="429 locked out",
        )
        call("PUT", path, auth=token, json_body={}, label="wrong method")

    # --- identity -------------------------------------------------------------------------------

    def identity(self) -> None:
        call = self.call
        token = "identity-reader"
        call("GET", "/identity/v1/sources", auth=token, label="sources")
        call("GET", "/identity/v1/sources", label="401")
        call("GET", "/identity/v1/sources", auth="console-reader", label="403")
        login = "/identity/v1/login"
        call(
            "POST",
            login,
            auth=token,
            json_body={"username": "ada", "password": ADA_PASSWORD},
            label="200 ada",
        )
        call(
            "POST",
            login + "?hostname=integration-site&base_dn=dc=integration-site,dc=local",
            auth=token,
            form={"username": STAFF_USER, "password": STAFF_PASSWORD},
            label="200 form, source picked",
        )
        call(
            "POST",
            login,
            auth=token,
            json_body={"username": PLAIN_USER, "password": PLAIN_PASSWORD},
            label="200 non-staff",
        )
        call(
            "POST",
            login,
            auth=token,
            json_body={"username": "ada", "password": "wrong"},
            label="401",
        )
        call(
            "POST",
            login,
            auth=token,
            json_body={"username": "linus", "password": "anything"},
            label="401 unusable password",
        )
        call(
            "POST",
            login + "?hostname=nope",
            auth=token,
            json_body={"username": "ada", "password": ADA_PASSWORD},
            label="400 no source",
        )
        call("POST", login, auth=token, json_body={"username": "ada"}, label="400 missing password")
        call("POST", login, auth=token, raw="nope", label="400 bad JSON")
        for attempt in range(5):
            call(
                "POST",
                login,
                auth=token,
                json_body={"username": "locked-identity", "password": "bad"},
                label=f"failure {attempt + 1}",
            )
        call(
            "POST",
            login,
            auth=token,
            json_body={"username": "locked-identity", "password": "bad"},
            label="429 locked out",
        )
        call("GET", login, auth=token, label="wrong method")
        for user in ("ada", "grace", "nobody", "a" * 300):
            call("GET", f"/identity/v1/user/{user}", auth=token, label="user")
            call("GET", f"/identity/v1/user/{user}/exists", auth=token, label="exists")
        call("GET", "/identity/v1/user/ada?hostname=nope", auth=token, label="400 no source")
        call("GET", "/identity/v1/user/ada", auth="console-reader", label="403")
        # An enabled LDAP source nobody answers on (connection refused at once): listed
        # first, it turns the console's form to LDAP and makes directory calls a 503.
        self.admin_form(
            "/admin/console/directorysource/add/",
            {
                "name": "Compare LDAP",
                "enabled": "on",
                "position": "0",
                "directory_type": "openldap",
                "host": "127.0.0.1",
                "port": "1",
                "tls_mode": "plain",
                "timeout_seconds": "2",
                "base_dn": "dc=compare,dc=test",
                "user_search_dn": "ou=people,dc=compare,dc=test",
                "group_search_dn": "ou=groups,dc=compare,dc=test",
            },
        )
        call("GET", "/identity/v1/sources", auth=token, label="with an LDAP source")
        call("GET", "/console/v1/auth", auth="console-reader", label="LDAP form")
        call(
            "POST",
            login,
            auth=token,
            json_body={"username": "ada", "password": ADA_PASSWORD},
            label="LDAP unreachable, site user",
        )
        call(
            "POST",
            login + "?hostname=integration-site",
            auth=token,
            json_body={"username": "ada", "password": ADA_PASSWORD},
            label="200 site source picked",
        )
        call(
            "POST",
            "/console/v1/auth",
            auth="console-reader",
            json_body={"username": STAFF_USER, "password": STAFF_PASSWORD},
            label="LDAP unreachable, site staff",
        )
        call(
            "POST",
            login,
            auth=token,
            json_body={"username": "ldap-only", "password": "x"},
            label="LDAP unreachable, unknown user",
        )
        call(
            "POST",
            "/console/v1/auth",
            auth="console-reader",
            json_body={"username": "ldap-only", "password": "x"},
            label="LDAP unreachable, unknown user",
        )
        call("GET", "/identity/v1/user/ada", auth=token, label="503 directory unreachable")
        call(
            "GET",
            "/identity/v1/user/ada/exists?base_dn=dc=integration-site,dc=local",
            auth=token,
            label="site source by base DN",
        )

    # --- versions and updates --------------------------------------------------------------------

    def versions(self) -> None:
        call = self.call
        reader, applier = "version-reader", "version-applier"
        call("GET", "/version/v1/current", auth=reader, label="demo's current")
        call("GET", "/version/v1/updates", auth=reader, label="demo's pending")
        manifest = self.tmp / "releases.json"
        manifest.write_text(json.dumps(RELEASES_MANIFEST))
        with quiet():
            command("releases_import", str(manifest))
        call("GET", "/version/v1/updates", auth=reader, label="after releases_import")
        call("GET", "/version/v1/current", label="401")
        call("GET", "/version/v1/current", auth="license-reader", label="403")
        call("PUT", "/version/v1/999", auth=applier, label="404 unknown sequence")
        call("PUT", "/version/v1/100", auth=applier, label="409 not newer")
        call("PUT", "/version/v1/104", auth=reader, label="403 no version:apply")
        applied = call("PUT", "/version/v1/105", auth=applier, label="202 apply")
        call("PUT", "/version/v1/105", auth=applier, label="409 another apply active")
        job_url = (applied["body"] or {}).get("url", "/version/v1/jobs/0")
        call("GET", job_url, auth=reader, label="job queued")
        self.worker_tick()
        job = call("GET", job_url, auth=reader, label="job finished")
        log = (job["body"] or {}).get("log") or [{"id": 0}]
        call(
            "GET",
            f"{job_url}?after={log[0]['id']}",
            auth=reader,
            label="job log after the first line",
        )
        call("GET", f"{job_url}?after=abc", auth=reader, label="400 after")
        call("GET", "/version/v1/jobs/9999", auth=reader, label="404 job")
        call("GET", "/version/v1/current", auth=reader, label="after the update")
        call("GET", "/version/v1/updates", auth=reader, label="nothing pending on the channel")
        call("POST", "/version/v1/current", auth=reader, label="wrong method")

    # --- status -------------------------------------------------------------------------------

    def status(self) -> None:
        call = self.call
        path = "/status/v1/startup"
        token = "status-writer"
        call(
            "PUT",
            path,
            auth=token,
            json_body={"message": "Starting the compare app", "severity": "warning"},
            label="204",
        )
        call("PUT", path, auth=token, json_body={"message": "Up"}, label="204 default severity")
        call(
            "PUT",
            path,
            auth=token,
            json_body={"message": "x", "severity": "fatal"},
            label="400 severity",
        )
        call("PUT", path, auth=token, json_body={}, label="400 missing message")
        call("PUT", path, auth=token, raw="{", label="400 bad JSON")
        call("PUT", path, auth="health-reader", json_body={"message": "x"}, label="403")
        call("PUT", path, json_body={"message": "x"}, label="401")
        call("GET", path, auth=token, label="wrong method")

    # --- monitoring (Sensu 1.x) -------------------------------------------------------------------

    def monitoring(self) -> None:
        call = self.call
        read, write = "monitoring-reader", "monitoring-writer"
        call("GET", "/clients", label="401")
        call("GET", "/clients", auth="health-reader", label="403")
        call("OPTIONS", "/clients", label="OPTIONS without auth")
        call("GET", "/clients", auth=read, label="demo clients")
        call(
            "POST",
            "/clients",
            auth=read,
            json_body={"name": "cmp-1", "address": "x"},
            label="403 read-only token",
        )
        # Keepalives off: the keepalive monitor runs every 30 s, at whichever worker tick
        # falls due, so a watched client's keepalive result would come and go with timing.
        client = {
            "name": "cmp-1",
            "address": "10.9.0.1",
            "subscriptions": ["cmp", "production"],
            "environment": "qa",
            "password": "hunter2",
            "keepalives": False,
        }
        call("POST", "/clients", auth=write, json_body=client, label="201 register")
        call(
            "POST",
            "/clients",
            auth=write,
            json_body={
                "name": "cmp-2",
                "address": "10.9.0.2",
                "subscriptions": ["cmp"],
                "keepalives": False,
            },
            label="201 second client",
        )
        call(
            "POST",
            "/clients",
            auth=write,
            json_body={
                "name": "cmp-ka",
                "address": "10.9.0.3",
                "keepalives": False,
                "keepalive": {"thresholds": {"warning": 7200, "critical": 9000}},
            },
            label="201 client with keepalive thresholds",
        )
        call(
            "POST",
            "/clients",
            auth=write,
            json_body={"name": "bad name!", "address": "x"},
            label="400 name",
        )
        call(
            "POST", "/clients", auth=write, json_body={"name": "cmp-3"}, label="400 missing address"
        )
        call(
            "POST",
            "/clients",
            auth=write,
            json_body={
                "name": "cmp-3",
                "address": "x",
                "keepalive": {"thresholds": {"warning": "soon"}},
            },
            label="400 thresholds",
        )
        call("POST", "/clients", auth=write, raw="{", label="400 bad JSON")
        call("GET", "/clients?limit=2&offset=1", auth=read, label="paginated")
        call("GET", "/clients?filter.environment=qa", auth=read, label="filtered")
        call("GET", "/clients/cmp-1", auth=read, label="one client (redacted)")
        call("GET", "/clients/nope", auth=read, label="404")
        call("GET", "/checks", auth=read, label="checks")
        call("GET", "/checks/check_http", auth=read, label="one check")
        call("GET", "/checks/nope", auth=read, label="404")
        call(
            "POST",
            "/request",
            auth=write,
            json_body={
                "check": "check_http",
                "subscribers": ["webserver"],
                "reason": "compare",
                "creator": "api-compare",
            },
            label="202 request",
        )
        call("POST", "/request", auth=write, json_body={"check": "nope"}, label="404 request")
        call("POST", "/request", auth=write, json_body={}, label="400 request")
        results = [
            {
                "name": "cmp_check",
                "output": "CRITICAL: compare",
                "status": 2,
                "source": "cmp-1",
                "aggregate": "cmp-agg",
                "handlers": ["default"],
            },
            {
                "name": "cmp_check",
                "output": "OK: compare",
                "status": 0,
                "source": "cmp-2",
                "aggregate": "cmp-agg",
            },
            {
                "name": "cmp_warn",
                "output": "WARNING: compare",
                "status": 1,
                "source": "cmp-1",
                "aggregates": ["cmp-agg"],
                "ttl": 3600,
            },
            {"name": "cmp_unknown", "output": "UNKNOWN", "status": 3, "source": "cmp-2"},
            {"name": "sensu_api_check", "output": "from the API client", "status": 1},
        ]
        for result in results:
            call("POST", "/results", auth=write, json_body=result, label="202 result")
        call(
            "POST",
            "/results",
            auth=write,
            json_body={"name": "cmp_check", "status": 2},
            label="400 missing output",
        )
        call(
            "POST",
            "/results",
            auth=write,
            json_body={"name": "cmp check", "output": "x"},
            label="400 name",
        )
        call(
            "POST",
            "/results",
            auth=write,
            json_body={"name": "x", "output": "x", "status": "2"},
            label="400 status type",
        )
        call("POST", "/results", auth=read, json_body=results[0], label="403")
        call("POST", "/results", json_body=results[0], label="401")
        too_big = json.dumps({"name": "big", "output": "x" * (5 * 1024 * 1024)})
        call("POST", "/results", auth=write, raw=too_big, label="413 over API_MAX_BODY_BYTES")
        self.worker_tick()
        for path in (
            "/events",
            "/incidents",
            "/events?limit=2&offset=1",
            "/events?filter.check.status=2",
            "/events/cmp-1",
            "/incidents/cmp-1",
            "/events/cmp-1/cmp_check",
            "/incidents/cmp-1/cmp_warn",
            "/events/nope/cmp_check",
            "/events/cmp-2",
            "/clients/cmp-1/history",
            "/clients/nope/history",
            "/results",
            "/results?limit=3&offset=2",
            "/results/cmp-1",
            "/results/cmp-1/cmp_check",
            "/results/cmp-1/nope",
        ):
            call("GET", path, auth=read, label="read after the drain")
        call("POST", "/events", auth=write, json_body={}, label="405 with Allow")
        silenced = [
            {
                "subscription": "cmp",
                "check": "cmp_check",
                "reason": "compare",
                "creator": "api-compare",
                "expire": 3600,
            },
            {"subscription": "client:cmp-2", "expire_on_resolve": True},
            {"check": "cmp_warn", "begin": 4102444800, "expire": 600},
        ]
        for body in silenced:
            call("POST", "/silenced", auth=write, json_body=body, label="201 silence")
        call("POST", "/silenced", auth=write, json_body={"reason": "nothing"}, label="400 silence")
        call(
            "POST",
            "/silenced",
            auth=write,
            json_body={"subscription": "bad sub!"},
            label="400 subscription",
        )
        for path in (
            "/silenced",
            "/silenced?limit=1",
            "/silenced/ids/cmp:cmp_check",
            "/silenced/ids/client:cmp-2:*",
            "/silenced/ids/nope",
            "/silenced/subscriptions/cmp",
            "/silenced/subscriptions/client:cmp-2",
            "/silenced/checks/cmp_warn",
            "/events/cmp-1/cmp_check",
        ):
            call("GET", path, auth=read, label="silences")
        call(
            "POST",
            "/silenced/clear",
            auth=write,
            json_body={"id": "cmp:cmp_check"},
            label="204 clear by id",
        )
        call(
            "POST",
            "/silenced/clear",
            auth=write,
            json_body={"check": "cmp_warn"},
            label="204 clear by check",
        )
        call("POST", "/silenced/clear", auth=write, json_body={"id": "nope"}, label="404 clear")
        call("POST", "/silenced/clear", auth=write, json_body={}, label="400 clear")
        call("GET", "/silenced", auth=read, label="after clearing")
        call(
            "POST",
            "/stashes",
            auth=write,
            json_body={"path": "cmp/one", "content": {"a": 1, "note": "x"}},
            label="201 stash",
        )
        call(
            "POST",
            "/stashes",
            auth=write,
            json_body={"path": "cmp/expiring", "content": {}, "expire": 3600},
            label="201 stash with expire",
        )
        call(
            "POST", "/stash/cmp/two", auth=write, json_body={"b": [1, 2]}, label="201 stash by path"
        )
        call("POST", "/stashes", auth=write, json_body={"content": {}}, label="400 stash")
        call(
            "POST",
            "/stash/cmp/three",
            auth=write,
            raw="[1]",
            label="400 stash content not an object",
        )
        for path in (
            "/stashes",
            "/stashes?limit=1&offset=1",
            "/stash/cmp/one",
            "/stashes/cmp/two",
            "/stash/nope",
        ):
            call("GET", path, auth=read, label="stashes")
        call("DELETE", "/stashes/cmp/two", auth=write, label="204 delete stash")
        call("DELETE", "/stash/cmp/two", auth=write, label="404 delete stash")
        call("GET", "/stash/cmp/two", auth=read, label="404 after delete")
        for path in (
            "/aggregates",
            "/aggregates/cmp-agg",
            "/aggregates/cmp-agg?max_age=60",
            "/aggregates/cmp-agg/clients",
            "/aggregates/cmp-agg/checks",
            "/aggregates/cmp-agg/results/critical",
            "/aggregates/cmp-agg/results/ok",
            "/aggregates/cmp-agg/results/bogus",
            "/aggregates/nope",
            "/aggregates/nope/clients",
        ):
            call("GET", path, auth=read, label="aggregates")
        call("DELETE", "/events/cmp-1/cmp_check", auth=write, label="202 resolve by DELETE")
        call("DELETE", "/events/cmp-1/nope", auth=write, label="404 resolve")
        call(
            "POST",
            "/resolve",
            auth=write,
            json_body={"client": "db-1", "check": "check_backup"},
            label="202 resolve",
        )
        call(
            "POST",
            "/resolve",
            auth=write,
            json_body={"client": "db-1", "check": "nope"},
            label="404 resolve",
        )
        call("POST", "/resolve", auth=write, json_body={"client": "db-1"}, label="400 resolve")
        call("DELETE", "/events/cmp-1/cmp_warn", auth=read, label="403 resolve read-only")
        self.worker_tick()
        call("GET", "/events", auth=read, label="after resolving")
        call("GET", "/clients/cmp-1/history", auth=read, label="history after resolving")
        call("DELETE", "/results/cmp-2/cmp_unknown", auth=write, label="204 delete result")
        call("DELETE", "/results/cmp-2/cmp_unknown", auth=write, label="404 delete result")
        call("DELETE", "/checks/cmp_check", auth=write, label="202 delete check results")
        call("GET", "/results", auth=read, label="after deletes")
        call("DELETE", "/clients/cmp-2", auth=write, label="202 delete client")
        call("DELETE", "/clients/nope", auth=write, label="404 delete client")
        self.worker_tick()
        call("GET", "/clients", auth=read, label="after deleting a client")
        call("GET", "/events", auth=read, label="events at the end")
        call("DELETE", "/aggregates/nope", auth=write, label="404 delete aggregate")
        call("DELETE", "/aggregates/cmp-agg", auth=read, label="403 delete aggregate read-only")
        call("DELETE", "/aggregates/cmp-agg", auth=write, label="204 delete aggregate")
        call("GET", "/aggregates", auth=read, label="after deleting the aggregate")
        call("DELETE", "/incidents/cmp-1/cmp_warn", auth=write, label="resolve through the alias")
        call("GET", "/info", auth=read, label="info")
        call("GET", "/settings", auth=read, label="settings (redacted)")
        call("GET", "/settings?redacted=false", auth=read, label="settings redacted=false")

    # --- the end: the chain, the whole trail, health with a live worker ---------------------------

    def closing(self) -> None:
        call = self.call
        self.worker_tick()
        call("GET", "/audit/v1/verify", auth="audit-verifier", label="verify at the end")
        call(
            "GET",
            "/api/audits?per_page=all&order=id ASC",
            auth="audit-reader",
            label="the whole audit trail",
        )
        call("GET", "/health", auth="health-reader", label="412 before a live worker")
        self.health_with_worker()

    def health_with_worker(self) -> None:
        """`manage.py worker` in a child process until /health turns 204; only the final
        answer is recorded (how many polls it takes is timing)."""
        from django.test import Client

        probe = Client(raise_request_exception=False, HTTP_HOST=HOST)
        headers = self.call.auth_header("health-reader")
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--interval", "0.2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=os.environ,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if probe.get("/health", headers=headers).status_code == 204:
                    break
                time.sleep(0.3)
            self.call("GET", "/health", auth="health-reader", label="204 with a live worker")
            self.call("GET", "/info", auth="monitoring-reader", label="info with a live worker")
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


# --- Compare --------------------------------------------------------------------------------

IGNORED_SCHEMA_KEYS = frozenset({"description", "summary", "title"})
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def describe(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def diff_values(old: Any, new: Any, where: str = "") -> list[str]:
    """Differences between two JSON values, as `path: old -> new` lines; key order counts."""
    if type(old) is not type(new):
        return [f"{where or '.'}: {describe(old)} -> {describe(new)}"]
    if isinstance(old, dict):
        lines = []
        for key in old:
            if key not in new:
                lines.append(f"{where}.{key}: removed (was {describe(old[key])})")
            else:
                lines += diff_values(old[key], new[key], f"{where}.{key}")
        for key in new:
            if key not in old:
                lines.append(f"{where}.{key}: added {describe(new[key])}")
        if not lines and list(old) != list(new):
            lines.append(f"{where or '.'}: key order {list(old)} -> {list(new)}")
        return lines
    if isinstance(old, list):
        lines = []
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            lines += diff_values(a, b, f"{where}[{index}]")
        if len(old) != len(new):
            lines.append(f"{where or '.'}: {len(old)} items -> {len(new)} items")
            for index in range(len(new), len(old)):
                lines.append(f"{where}[{index}]: removed {describe(old[index])}")
            for index in range(len(old), len(new)):
                lines.append(f"{where}[{index}]: added {describe(new[index])}")
        return lines
    if old != new:
        return [f"{where or '.'}: {describe(old)} -> {describe(new)}"]
    return []


def compare_requests(old: list[dict], new: list[dict]) -> tuple[int, int]:
    differing = 0
    if len(old) != len(new):
        print(f"! request count differs: {len(old)} -> {len(new)} (compared pairwise)")
    for index, (a, b) in enumerate(zip(old, new, strict=False)):
        lines = []
        if (a["method"], a["path"]) != (b["method"], b["path"]):
            lines.append(f"request: {a['method']} {a['path']} -> {b['method']} {b['path']}")
        if a.get("request_body") != b.get("request_body"):
            lines.append("request body differs (the sequences diverge)")
        if a["status"] != b["status"]:
            lines.append(f"status: {a['status']} -> {b['status']}")
        for line in diff_values(a["headers"], b["headers"]):
            lines.append(f"header{line}")
        if a.get("json_layout") != b.get("json_layout"):
            lines.append(f"JSON layout: {a.get('json_layout')} -> {b.get('json_layout')}")
        if (
            isinstance(a["body"], str)
            and isinstance(b["body"], str)
            and "\n" in a["body"] + b["body"]
        ):
            lines += text_diff(a["body"], b["body"])
        else:
            for line in diff_values(a["body"], b["body"]):
                lines.append(f"body{line}")
        if lines:
            differing += 1
            label = f" ({a['label']})" if a.get("label") else ""
            print(f"#{index} {a['method']} {a['path']} [{a['auth']}]{label}")
            for line in lines[:60]:
                print(f"    {line}")
            if len(lines) > 60:
                print(f"    ... and {len(lines) - 60} more")
    return min(len(old), len(new)), differing + abs(len(old) - len(new))


def text_diff(old: str, new: str) -> list[str]:
    import difflib

    lines = list(
        difflib.unified_diff(old.splitlines(), new.splitlines(), "old", "new", n=1, lineterm="")
    )
    return [f"text {line}" for line in lines[2:]]


def strip_text(value: Any) -> Any:
    """The schema without human text: description, summary and title keys dropped."""
    if isinstance(value, dict):
        return {k: strip_text(v) for k, v in value.items() if k not in IGNORED_SCHEMA_KEYS}
    if isinstance(value, list):
        return [strip_text(v) for v in value]
    return value


def schema_operations(schema: dict) -> dict[str, dict]:
    operations = {}
    for path, item in (schema.get("paths") or {}).items():
        shared = item.get("parameters", [])
        for method in HTTP_METHODS:
            if method in item:
                operation = dict(item[method])
                operation["parameters"] = shared + operation.get("parameters", [])
                operations[f"{method.upper()} {path}"] = operation
    return operations


def compare_schema(old: Any, new: Any) -> list[str]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else [f"schema: {describe(old, 80)} -> {describe(new, 80)}"]
    old, new = strip_text(old), strip_text(new)
    lines: list[str] = []
    for key in sorted(set(old) | set(new)):
        if key in ("paths", "components", "info"):
            continue
        lines += [f"schema {key}{line}" for line in diff_values(old.get(key), new.get(key))]
    old_ops, new_ops = schema_operations(old), schema_operations(new)
    for name in sorted(set(old_ops) - set(new_ops)):
        lines.append(f"operation removed: {name}")
    for name in sorted(set(new_ops) - set(old_ops)):
        lines.append(f"operation added: {name}")
    if list(old.get("paths") or {}) != list(new.get("paths") or {}) and set(old_ops) == set(
        new_ops
    ):
        lines.append("paths: order changed")
    for name in sorted(set(old_ops) & set(new_ops)):
        a, b = old_ops[name], new_ops[name]
        params_a = {(p.get("name"), p.get("in")): p for p in a.pop("parameters")}
        params_b = {(p.get("name"), p.get("in")): p for p in b.pop("parameters")}
        for key in sorted(set(params_a) - set(params_b), key=str):
            lines.append(f"{name}: parameter removed {key[1]}:{key[0]}")
        for key in sorted(set(params_b) - set(params_a), key=str):
            lines.append(
                f"{name}: parameter added {key[1]}:{key[0]} {describe(params_b[key], 200)}"
            )
        for key in sorted(set(params_a) & set(params_b), key=str):
            for line in diff_values(params_a[key], params_b[key]):
                lines.append(f"{name}: parameter {key[1]}:{key[0]}{line}")
        for part in sorted(set(a) | set(b)):
            for line in diff_values(a.get(part), b.get(part)):
                lines.append(f"{name}: {part}{line}")
    components_a, components_b = old.get("components") or {}, new.get("components") or {}
    for section in sorted(set(components_a) | set(components_b)):
        items_a, items_b = components_a.get(section) or {}, components_b.get(section) or {}
        for item in sorted(set(items_a) - set(items_b)):
            lines.append(f"components.{section}.{item}: removed")
        for item in sorted(set(items_b) - set(items_a)):
            lines.append(f"components.{section}.{item}: added {describe(items_b[item], 200)}")
        for item in sorted(set(items_a) & set(items_b)):
            for line in diff_values(items_a[item], items_b[item]):
                lines.append(f"components.{section}.{item}{line}")
    return lines


def compare(old_path: Path, new_path: Path) -> int:
    old, new = json.loads(old_path.read_text()), json.loads(new_path.read_text())
    print(f"old: {old_path} ({old.get('tree')})\nnew: {new_path} ({new.get('tree')})\n")
    compared, differing = compare_requests(old["requests"], new["requests"])
    schema_lines = compare_schema(old.get("schema"), new.get("schema"))
    if schema_lines:
        print("\nOpenAPI schema:")
        for line in schema_lines:
            print(f"    {line}")
    print(
        f"\n{compared} requests compared, {differing} differ; "
        f"schema: {len(schema_lines)} differences"
    )
    return 0 if differing == 0 and not schema_lines else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    take = commands.add_parser("snapshot", help="Record the API of the tree in the cwd.")
    take.add_argument("out", type=Path)
    take.add_argument("--keep-raw", action="store_true", help="Also write OUT.raw.json.")
    diff = commands.add_parser("compare", help="Compare two snapshots.")
    diff.add_argument("old", type=Path)
    diff.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    if args.command == "snapshot":
        snapshot(args.out, keep_raw=args.keep_raw)
        return 0
    return compare(args.old, args.new)


if __name__ == "__main__":
    sys.exit(main())
