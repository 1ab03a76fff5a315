"""
The one settings module. Every value comes from the environment; the README's configuration
table lists each variable. There is no production-only code path: production behaviour is
switched on by variables (DJANGO_HTTPS, DATABASE_URL, ...), never by another settings file.
"""

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("INTEGRATION_SITE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


# https://docs.djangoproject.com/en/6.1/ref/settings/#debug
DEBUG = env_bool("DJANGO_DEBUG")

# https://docs.djangoproject.com/en/6.1/ref/settings/#secret-key
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
# The run command keeps a generated key in var/secret_key; reading it here lets manage.py
# commands (create_api_token, audit_verify...) work from the checkout with nothing exported.
# The variable, when set, always wins: production sets it and need not have this file.
_SECRET_KEY_FILE = VAR_DIR / "secret_key"
if not SECRET_KEY and _SECRET_KEY_FILE.is_file():
    SECRET_KEY = _SECRET_KEY_FILE.read_text().strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is not set and {_SECRET_KEY_FILE} does not exist. Set it to a "
            "long random string (the README's run command generates that file), "
            "or set DJANGO_DEBUG=1 for local development only."
        )
    SECRET_KEY = "insecure-debug-only-key"
# https://docs.djangoproject.com/en/6.1/ref/settings/#secret-key-fallbacks
# Former keys, separated by whitespace (a key may hold a comma): after a rotation they still
# verify what the old key signed and open what it sealed (enterprise token secrets, bind
# passwords) until those are re-created.
SECRET_KEY_FALLBACKS = os.environ.get("DJANGO_SECRET_KEY_FALLBACKS", "").split()

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
# Needed when the admin is reached through an HTTPS proxy under another origin.
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "integration_site.apps.IntegrationAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Serve static files the same way in development as under gunicorn.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks_db",
    "integration_site",
    "identity",
    "audits",
    "bookmarks",
    "licensing",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "integration_site.middleware.RequestContextMiddleware",
    "integration_site.middleware.ApiErrorMiddleware",
    # After the error middleware (its 400 gets the request id), before any view or session.
    "integration_site.middleware.NulRefusalMiddleware",
    # Answers plain valid bearer-token ingest POSTs here, before the browser middleware below
    # (integration_site.fast_path); it must follow the request id and error middleware.
    "integration_site.fast_path.IngestFastPathMiddleware",
    # Reads from replicas (integration_site.replicas): which ones a request may make, and its
    # second answer from the primary when a replica fails under it. After the fast path (the
    # ingest never reads a replica), outside the session and the views it may run twice.
    "integration_site.replicas.ReplicaReadsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "integration_site.urls"
WSGI_APPLICATION = "integration_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# Embedded default: a SQLite file under var/. DATABASE_URL=postgres://... switches to
# PostgreSQL with psycopg's connection pool.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'integration_site.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
# Production gives the site a role that owns nothing (README "Production database roles"):
# `manage.py migrate` and `manage.py db_roles_grant` then connect with this URL's user,
# password, host and port (same database) and, with DATABASE_MIGRATE_ROLE, SET ROLE to the
# NOLOGIN owner first, so every table they create belongs to the owner.
DATABASE_MIGRATE_URL = os.environ.get("DATABASE_MIGRATE_URL", "")
DATABASE_MIGRATE_ROLE = os.environ.get("DATABASE_MIGRATE_ROLE", "")
DATABASE_POOL_CHECK_WINDOW_MS = env_int("DATABASE_POOL_CHECK_WINDOW_MS", 500)
# The ingest hot paths' INSERTs (integration_site.row_insert) as prepared statements:
# parsing and planning each was half of PostgreSQL's CPU for it. Off behind a pooler in
# transaction mode that cannot carry them (PgBouncer before 1.21 or without
# max_prepared_statements).
DATABASE_PREPARE_INSERTS = env_bool("DATABASE_PREPARE_INSERTS", default=True)
# Long reads (streamed API pages, CSV and exports, chain verification) fetch their rows in
# chunks from a server-side cursor, which lives in one server session: off behind a pooler in
# transaction mode, which may send the next FETCH to another session (docs/scaling.md). Off,
# such a read holds its whole result in memory.
DATABASE_SERVER_SIDE_CURSORS = env_bool("DATABASE_SERVER_SIDE_CURSORS", default=True)
# PostgreSQL only (SQLite has no statement timeout; its guard against a costly search is
# that `~` compiles to LIKE). 0 means no limit. See the README's Configuration table.
DATABASE_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 30_000)
DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS = env_int("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", 60_000)
# `manage.py worker`'s jobs (retention, verification, provisioning, monitors) walk whole tables.
WORKER_STATEMENT_TIMEOUT_MS = env_int("WORKER_STATEMENT_TIMEOUT_MS", 15 * 60_000)
DATABASE_CLIENT_CHECK_INTERVAL_MS = env_int("DATABASE_CLIENT_CHECK_INTERVAL_MS", 2_000)
DATABASE_KEEPALIVES_IDLE_SECONDS = env_int("DATABASE_KEEPALIVES_IDLE_SECONDS", 30)
DATABASE_KEEPALIVES_INTERVAL_SECONDS = env_int("DATABASE_KEEPALIVES_INTERVAL_SECONDS", 10)
DATABASE_KEEPALIVES_COUNT = env_int("DATABASE_KEEPALIVES_COUNT", 3)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    from integration_site.db_pool import pool_connection_check

    # https://docs.djangoproject.com/en/6.1/ref/databases/#connection-pool
    # Pooling forbids persistent connections, so CONN_MAX_AGE stays 0.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = not DATABASE_SERVER_SIDE_CURSORS
    # psycopg prepares a server-side-bound statement on its first run (0), or never (None).
    # The ORM's queries bind on the client and are never prepared, so this reaches only the
    # statements sent on psycopg's own cursors: the hot INSERTs and the connection checks.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        0 if DATABASE_PREPARE_INSERTS else None
    )
    # Every statement has a time limit, and a transaction left idle is ended: one slow search
    # or a stuck client cannot hold a backend and its locks. Session defaults sent in the
    # startup packet (libpq's `options`), so they cost no round trip and hold for every
    # connection the pool opens. `manage.py worker` sets its own, longer limits; `migrate`
    # lifts them for its run (integration_site.db_limits). A cancelled statement is a 503.
    # client_connection_check_interval (PostgreSQL 14+) has the backend poll the client's
    # socket while a query runs, so the query of a gunicorn worker that was SIGKILLed (its
    # socket closed by the kernel) is cancelled instead of running to its end. The server's
    # tcp_keepalives_* and libpq's keepalives below find a peer that vanished without
    # closing (host down, network cut) on each side.
    _session = {
        "statement_timeout": DATABASE_STATEMENT_TIMEOUT_MS,
        "idle_in_transaction_session_timeout": DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
        "client_connection_check_interval": DATABASE_CLIENT_CHECK_INTERVAL_MS,
        "tcp_keepalives_idle": DATABASE_KEEPALIVES_IDLE_SECONDS,
        "tcp_keepalives_interval": DATABASE_KEEPALIVES_INTERVAL_SECONDS,
        "tcp_keepalives_count": DATABASE_KEEPALIVES_COUNT,
    }
    _options = DATABASES["default"]["OPTIONS"]
    _options["options"] = " ".join(
        [_options.get("options", ""), *(f"-c {name}={value}" for name, value in _session.items())]
    ).strip()
    _options.update(
        keepalives=1,
        keepalives_idle=DATABASE_KEEPALIVES_IDLE_SECONDS,
        keepalives_interval=DATABASE_KEEPALIVES_INTERVAL_SECONDS,
        keepalives_count=DATABASE_KEEPALIVES_COUNT,
    )
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 4),
        "timeout": env_int("DATABASE_POOL_TIMEOUT", 10),
        # Checked on checkout unless used within the window (integration_site.db_pool).
        "check": pool_connection_check,
    }
# Streaming replicas of the primary (integration_site/replicas.py, docs/scaling.md), comma-
# separated PostgreSQL URLs; each becomes the alias replica_1, replica_2... Only the reads
# that may be a little stale go there (searches, the audit list, exports, the dashboard),
# only while a replica answers its health check within DATABASE_REPLICA_MAX_LAG_SECONDS
# of the primary, checked every DATABASE_REPLICA_CHECK_SECONDS by a thread of each process.
DATABASE_REPLICA_URLS = env_list("DATABASE_REPLICA_URL")
DATABASE_REPLICA_MAX_LAG_SECONDS = env_int("DATABASE_REPLICA_MAX_LAG_SECONDS", 5)
DATABASE_REPLICA_CHECK_SECONDS = env_int("DATABASE_REPLICA_CHECK_SECONDS", 5)
# libpq's connect_timeout on replicas (2 s is libpq's least): a replica host that vanished
# costs a check or a read at most this, then its reads go to the primary.
DATABASE_REPLICA_CONNECT_TIMEOUT_SECONDS = 2
if DATABASE_REPLICA_URLS:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL needs PostgreSQL: set DATABASE_URL to the primary's "
            "postgres:// URL, or unset DATABASE_REPLICA_URL (SQLite has no replicas)."
        )
    for _number, _url in enumerate(DATABASE_REPLICA_URLS, 1):
        _replica = dj_database_url.parse(_url)
        if _replica["ENGINE"] != "django.db.backends.postgresql":
            raise ImproperlyConfigured(
                f"DATABASE_REPLICA_URL entry {_number} is not a postgres:// URL."
            )
        _replica_options = {
            key: value for key, value in DATABASES["default"]["OPTIONS"].items() if key != "pool"
        }
        _replica_options["connect_timeout"] = DATABASE_REPLICA_CONNECT_TIMEOUT_SECONDS
        _replica.update(
            # integration_site.db_replica: PostgreSQL's backend that reports a lost replica
            # connection, so the request is answered again from the primary.
            ENGINE="integration_site.db_replica",
            OPTIONS=_replica_options,
            # No pool: psycopg's pool waits its whole timeout for a server that is down,
            # where a plain connect is refused at once (or gives up at connect_timeout).
            # Persistent connections instead, checked at the start of each request.
            CONN_MAX_AGE=60,
            CONN_HEALTH_CHECKS=True,
            DISABLE_SERVER_SIDE_CURSORS=not DATABASE_SERVER_SIDE_CURSORS,
            # The test runner points a replica alias at the test database itself.
            TEST={"MIRROR": "default"},
        )
        DATABASES[f"replica_{_number}"] = _replica
DATABASE_ROUTERS = ["integration_site.replicas.ReplicaRouter"]
# `manage.py worker` holds more connections at once than a web process: its task loop, the
# heartbeat, and its threads (the Sensu transport's consumers, the scheduler, the handler
# dispatcher and its MONITORING_HANDLER_CONCURRENCY runs). Its pool grows to this size.
WORKER_DATABASE_POOL_MAX_SIZE = env_int("WORKER_DATABASE_POOL_MAX_SIZE", 12)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # gunicorn and the worker write the same file: WAL lets readers proceed during a write,
    # and IMMEDIATE transactions take the write lock up front instead of failing mid-way.
    # synchronous=FULL syncs the WAL at every commit: with NORMAL a power loss can take back
    # commits already answered 201, and a 2xx must mean committed.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Times are stored and shown in UTC, as the peers (Foreman, Sensu, Replicated) render them.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (whitenoise) --------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("DJANGO_MANIFEST_STATIC", default=not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Security -------------------------------------------------------------------------
# DJANGO_HTTPS=1 when the site is served over TLS (directly or behind a proxy that sets
# X-Forwarded-Proto). The embedded default serves plain HTTP on loopback, so these are off.
HTTPS = env_bool("DJANGO_HTTPS")
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
if env_bool("DJANGO_BEHIND_TLS_PROXY"):
    # https://docs.djangoproject.com/en/6.1/ref/settings/#secure-proxy-ssl-header
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Stage HSTS: start small, raise to a year once HTTPS is known to work everywhere.
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
# Preloading is a commitment browsers cache for months, so the operator opts in.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD")
SESSION_COOKIE_HTTPONLY = True

from django.utils.csp import CSP  # noqa: E402 (kept next to the setting it builds)

# The admin and console pages carry no inline scripts; the browsable API has two inline
# style attributes, hence 'unsafe-inline' for styles only.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "frame-ancestors": [CSP.NONE],
}

# --- The integration API --------------------------------------------------------------
# Request bodies over this size get a JSON 413 (Django's DATA_UPLOAD_MAX_MEMORY_SIZE).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 5 * 1024 * 1024)
# Proxies whose X-Forwarded-For is believed: CIDRs (TRUSTED_PROXIES) and/or a hop count
# (TRUSTED_PROXY_COUNT). With neither, X-Forwarded-For is ignored and the socket address used.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# The address gunicorn listens on, as `make run` binds it (HOST). A hop count believes the
# last hops of X-Forwarded-For from ANY peer, so it is only safe on a port that only the proxy
# can reach; `check --deploy` warns otherwise. Unset means unknown: treated as exposed.
BIND_HOST = os.environ.get("HOST", "")
# Replicated apps call the Integration API without credentials from inside the cluster.
# Requests from these CIDRs may do so; empty (the default) means every call authenticates.
INTEGRATION_API_ANONYMOUS_NETWORKS = env_list("INTEGRATION_API_ANONYMOUS_NETWORKS")
# Verified API tokens are cached per process this long; a revocation made in another process
# takes effect within it (0 disables the cache).
API_TOKEN_CACHE_SECONDS = env_int("API_TOKEN_CACHE_SECONDS", 5)
# Verified Basic-auth credentials are cached per process this long (a password check costs
# about a second of PBKDF2); a changed password or a deactivated user misses at once.
BASIC_AUTH_CACHE_SECONDS = env_int("BASIC_AUTH_CACHE_SECONDS", 300)
# /health reports the worker missing when it has not checked in for this long.
WORKER_HEARTBEAT_MAX_AGE_SECONDS = env_int("WORKER_HEARTBEAT_MAX_AGE_SECONDS", 60)
# How often each worker's heartbeat thread checks in (well under the age above).
WORKER_HEARTBEAT_EVERY_SECONDS = env_int("WORKER_HEARTBEAT_EVERY_SECONDS", 5)

# --- Licensing and updates (docs/internals.md, "Licensing and updates") --------------------------------
# Vendor Ed25519 public keys that sign license files: base64 of the raw 32-byte key or PEM
# PUBLIC KEY blocks, separated by commas. Empty: the DEMO key that the demo data generates in
# var/demo-vendor-key/ is trusted (check licensing.W001 warns); never run production so.
LICENSE_VENDOR_PUBLIC_KEYS = os.environ.get("LICENSE_VENDOR_PUBLIC_KEYS", "")
LICENSE_TRUST_DEMO_VENDOR_KEY = env_bool("LICENSE_TRUST_DEMO_VENDOR_KEY", default=True)
# A running update job whose worker has not reported for this long is marked failed.
UPDATE_JOB_STALE_SECONDS = env_int("UPDATE_JOB_STALE_SECONDS", 60)
# Extra worker environment variables an update hook may see, comma-separated names. Hooks
# get only PATH, HOME, LANG, LANGUAGE, LC_*, TZ, TMPDIR and the RELEASE_*/UPDATE_JOB_ID
# variables otherwise; never list a secret here (the job log shows what a hook prints).
UPDATE_HOOK_ENV_PASSTHROUGH = env_list("UPDATE_HOOK_ENV_PASSTHROUGH")
# Pause between the logged steps of an update without a hook (demos; 0 in production).
UPDATE_STEP_DELAY_SECONDS = float(os.environ.get("UPDATE_STEP_DELAY_SECONDS", "0") or 0)
# Sensu's keepalive thresholds (seconds since a client's last keepalive); a client's own
# `keepalive.thresholds` overrides them.
MONITORING_KEEPALIVE_WARNING_SECONDS = env_int("MONITORING_KEEPALIVE_WARNING_SECONDS", 120)
MONITORING_KEEPALIVE_CRITICAL_SECONDS = env_int("MONITORING_KEEPALIVE_CRITICAL_SECONDS", 180)
# POST /results queues results (202); the worker's drain processes this many per transaction,
# for up to MONITORING_RESULTS_DRAIN_SECONDS per run (the drain is scheduled every second).
MONITORING_RESULTS_BATCH_SIZE = env_int("MONITORING_RESULTS_BATCH_SIZE", 500)
MONITORING_RESULTS_DRAIN_SECONDS = env_int("MONITORING_RESULTS_DRAIN_SECONDS", 20)
# A result's `output` is cut to this many characters when accepted (Sensu Go's
# max_output_size truncates likewise): it is stored in the result, the event and its audit.
MONITORING_OUTPUT_MAX_CHARS = env_int("MONITORING_OUTPUT_MAX_CHARS", 65536)

# Sensu 1.x's RabbitMQ transport (monitoring/sensu/transport.py), off when empty: e.g.
# amqp://guest:guest@127.0.0.1:5672/%2F. With it real sensu-client agents connect: the worker
# consumes the `keepalives` and `results` queues and publishes check requests. Without it
# POST /request and scheduled subscription checks cannot reach an agent and say so.
SENSU_TRANSPORT_URL = os.environ.get("SENSU_TRANSPORT_URL", "")
# Results taken off the transport per transaction, and the longest wait to fill a batch.
SENSU_TRANSPORT_BATCH_SIZE = env_int("SENSU_TRANSPORT_BATCH_SIZE", 500)
SENSU_TRANSPORT_BATCH_MS = env_int("SENSU_TRANSPORT_BATCH_MS", 200)
# Digests of processed transport results are kept this long to recognise redeliveries.
MONITORING_TRANSPORT_RECEIPT_HOURS = env_int("MONITORING_TRANSPORT_RECEIPT_HOURS", 24)
# Handlers (monitoring/handling): a run that outlasts its handler's `timeout` (or this) is
# killed; this many run at once per worker; what a run printed is kept up to the size below;
# runs are kept this many days.
MONITORING_HANDLER_TIMEOUT_SECONDS = env_int("MONITORING_HANDLER_TIMEOUT_SECONDS", 30)
MONITORING_HANDLER_CONCURRENCY = env_int("MONITORING_HANDLER_CONCURRENCY", 4)
MONITORING_HANDLER_OUTPUT_MAX_CHARS = env_int("MONITORING_HANDLER_OUTPUT_MAX_CHARS", 8192)
MONITORING_HANDLER_RUN_RETENTION_DAYS = env_int("MONITORING_HANDLER_RUN_RETENTION_DAYS", 30)

# Foreman-compatible /api/audits (audits/foreman/pagination.py): totals are exact up to this
# many rows, then a planner estimate. Pages are streamed (memory stays flat), so the largest
# one is a matter of time, not memory: a page holds at most AUDIT_API_MAX_PER_PAGE records,
# and a fetch-all (`per_page=all`, or above it, as apypie's 2**32) matching more is a 400
# rather than a silently short list.
AUDIT_API_EXACT_COUNT_LIMIT = env_int("AUDIT_API_EXACT_COUNT_LIMIT", 10_000)
# A search PostgreSQL's planner expects to match far more rows than that limit (or the admin's
# 10,000) is counted exactly for at most this long, then given the estimate: a common word's
# exact count is most of a free-text search's time (audits/paginator.py).
AUDIT_COUNT_BUDGET_MS = env_int("AUDIT_COUNT_BUDGET_MS", 50)
AUDIT_API_MAX_PER_PAGE = env_int("AUDIT_API_MAX_PER_PAGE", 100_000)
# Audit exports (audits/jobs.py) are written by the worker into this directory and purged
# this many hours after they finish.
AUDIT_EXPORT_DIR = Path(os.environ.get("AUDIT_EXPORT_DIR", VAR_DIR / "exports"))
AUDIT_EXPORT_RETENTION_HOURS = env_int("AUDIT_EXPORT_RETENTION_HOURS", 24)
# `GET /audit/v1/verify` still walks the chain in the request while it holds at most this
# many events since the retention checkpoint; a longer chain is verified by a background job
# (202 with its Location), so the request never meets the statement or gunicorn timeout.
AUDIT_VERIFY_SYNC_MAX_EVENTS = env_int("AUDIT_VERIFY_SYNC_MAX_EVENTS", 200_000)

# --- Identity and provisioning (identity/) -------------------------------
# How the site's own users appear as a directory in /identity/v1/sources and login bodies.
IDENTITY_SITE_HOSTNAME = os.environ.get("IDENTITY_SITE_HOSTNAME", "integration-site")
IDENTITY_SITE_BASE_DN = os.environ.get("IDENTITY_SITE_BASE_DN", "dc=integration-site,dc=local")
# The sign-in lockout (integration_site.lockout), shared by HTTP Basic, the admin's login and
# the Identity and Console sign-ins: this many failures for one username from one end-user
# address within the window answer 429 until the window passes; the per-address cap stops
# password spraying. (The names predate the ledger's move to the platform.)
IDENTITY_LOGIN_MAX_FAILURES = env_int("IDENTITY_LOGIN_MAX_FAILURES", 5)
IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS", 50)
IDENTITY_LOGIN_LOCKOUT_SECONDS = env_int("IDENTITY_LOGIN_LOCKOUT_SECONDS", 900)
# The application's provisioner (Replicated's identity.provisioner), used when the admin's
# Provisioner setting leaves the URL empty. Empty here and there: provisioning is off.
IDENTITY_PROVISIONER_URL = os.environ.get("IDENTITY_PROVISIONER_URL", "")
IDENTITY_PROVISIONER_TIMEOUT_SECONDS = env_int("IDENTITY_PROVISIONER_TIMEOUT_SECONDS", 10)
# Audit ingest: events per bulk request (all-or-nothing), and how long an Idempotency-Key
# is remembered (Stripe and the IETF draft: at least 24 hours).
AUDIT_BULK_MAX_EVENTS = env_int("AUDIT_BULK_MAX_EVENTS", 1000)
AUDIT_IDEMPOTENCY_TTL_HOURS = env_int("AUDIT_IDEMPOTENCY_TTL_HOURS", 24)
# PostgreSQL: no retention run removes events younger than this. `manage.py migrate` (run as
# the tables' owner) writes it into a table the site's role cannot change, so a site role
# that calls the retention function itself still cannot empty the recent trail.
AUDIT_MIN_RETENTION_DAYS = env_int("AUDIT_MIN_RETENTION_DAYS", 7)
# PostgreSQL: the event table is partitioned by received time (audits/partitions.py), one
# partition per interval (year, quarter, month, week or day, UTC); the worker keeps
# AUDIT_PARTITION_PREMAKE intervals ahead created. Retention drops whole partitions, so events
# are kept up to one interval longer than the retention asked for. Every search that names no
# received time plans every partition (about 0.2 ms each, benchmarks.md): with years of
# retention, `quarter` or `year` keeps them few. A new interval applies to partitions created
# from then on.
AUDIT_PARTITION_INTERVAL = os.environ.get("AUDIT_PARTITION_INTERVAL", "month").strip().lower()
if AUDIT_PARTITION_INTERVAL not in ("year", "quarter", "month", "week", "day"):
    raise ImproperlyConfigured(
        "AUDIT_PARTITION_INTERVAL must be year, quarter, month, week or day, "
        f"got {AUDIT_PARTITION_INTERVAL!r}"
    )
AUDIT_PARTITION_PREMAKE = env_int("AUDIT_PARTITION_PREMAKE", 3)
if not 1 <= AUDIT_PARTITION_PREMAKE <= 120:
    raise ImproperlyConfigured("AUDIT_PARTITION_PREMAKE must be between 1 and 120")
# The chain head (seq, hash, time) is appended, HMAC-signed with a key derived from
# SECRET_KEY, to this file every AUDIT_ANCHOR_INTERVAL_SECONDS by the worker; verification
# then reports a chain rewound or truncated behind an anchor (audits/anchors.py).
AUDIT_ANCHOR_PATH = Path(os.environ.get("AUDIT_ANCHOR_PATH", VAR_DIR / "audit-anchors.jsonl"))
AUDIT_ANCHOR_INTERVAL_SECONDS = env_int("AUDIT_ANCHOR_INTERVAL_SECONDS", 300)
# Where Retraced's publisher, viewer and enterprise APIs are served: the site's root by
# default (a client's endpoint is the site's URL), or under a path such as `auditlog`, where
# Retraced's own deployments put them, so clients configured for one keep their endpoint.
RETRACED_URL_PREFIX = os.environ.get("RETRACED_URL_PREFIX", "").strip("/")
if not re.fullmatch(r"([A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*)?", RETRACED_URL_PREFIX):
    raise ImproperlyConfigured(
        f"RETRACED_URL_PREFIX must be path segments such as 'auditlog', got {RETRACED_URL_PREFIX!r}"
    )
# Retraced's GraphQL `search`: the most events one page (`first`/`last`) may ask for.
# Retraced sets no cap; each page is one bounded query (docs/api-compat.md).
RETRACED_GRAPHQL_MAX_PAGE_SIZE = env_int("RETRACED_GRAPHQL_MAX_PAGE_SIZE", 500)
# Retraced GraphQL searches (PostgreSQL): each statement runs within this budget first; one
# past it (an exact count over a big group) runs again without it only while it holds its
# scope's one slot and one of the database server's SLOW_SEARCH_SLOTS, else the request gets
# a 429 (integration_site.db_limits.slow_read). 0: no budget, no slots. While every slot is
# taken, the budget is RETRACED_SEARCH_BUSY_BUDGET_MS instead: a search past it could only be
# refused, and it should cost little to refuse.
RETRACED_SEARCH_BUDGET_MS = env_int("RETRACED_SEARCH_BUDGET_MS", 1000)
RETRACED_SEARCH_BUSY_BUDGET_MS = env_int("RETRACED_SEARCH_BUSY_BUDGET_MS", 100)
if RETRACED_SEARCH_BUSY_BUDGET_MS < 1:
    raise ImproperlyConfigured(
        f"RETRACED_SEARCH_BUSY_BUDGET_MS must be at least 1, got {RETRACED_SEARCH_BUSY_BUDGET_MS}"
    )
SLOW_SEARCH_SLOTS = env_int("SLOW_SEARCH_SLOTS", 2)
if SLOW_SEARCH_SLOTS < 1:
    raise ImproperlyConfigured(f"SLOW_SEARCH_SLOTS must be at least 1, got {SLOW_SEARCH_SLOTS}")

# --- Retraced viewer and Enterprise IT APIs (docs/api-compat.md, "Retraced: viewer and
# enterprise APIs") ---
# A viewer token (publisher `viewertoken`) is exchanged for a viewer session within this many
# seconds of being minted (Retraced's five minutes); the session then lives its own length,
# and an expired or revoked one gets a 401, on which logs-viewer calls its refreshToken().
RETRACED_VIEWER_TOKEN_SECONDS = env_int("RETRACED_VIEWER_TOKEN_SECONDS", 300)
RETRACED_VIEWER_SESSION_SECONDS = env_int("RETRACED_VIEWER_SESSION_SECONDS", 1800)
# The HMAC key of viewer sessions (JWT HS256). Empty: derived from SECRET_KEY, so rotating
# SECRET_KEY ends every session.
RETRACED_VIEWER_SECRET = os.environ.get("RETRACED_VIEWER_SECRET", "")
# A saved export's CSV holds at most this many events, newest first; a cut one says so in
# its X-Retraced-Export-Truncated header.
RETRACED_EXPORT_MAX_ROWS = env_int("RETRACED_EXPORT_MAX_ROWS", 100_000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The first class's challenge decides the 401's WWW-Authenticate header: Bearer,
        # so browsers hitting the API do not pop a Basic dialog.
        "integration_site.authentication.ApiTokenAuthentication",
        "integration_site.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["integration_site.permissions.HasRequiredScope"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # The one JSON parser (depth, NaN, NUL and surrogates refused with a 400).
    "DEFAULT_PARSER_CLASSES": ["integration_site.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "integration_site.schema.SiteSchema",
    "EXCEPTION_HANDLER": "integration_site.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Integration Site API",
    "DESCRIPTION": (
        "Replicated Integration API (audit, console, license, version, status, identity), "
        "Foreman-compatible audits API and Sensu-compatible monitoring API."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs pages are for console staff, like every unscoped view.
    "SERVE_PERMISSIONS": ["integration_site.permissions.HasRequiredScope"],
    "SERVE_AUTHENTICATION": None,
    # Request bodies get components of their own (`…Request`): their rules (a non-blank
    # string: minLength, and SiteSchema's non-space pattern) are not true of what the
    # responses carry.
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Background work ------------------------------------------------------------------
# https://docs.djangoproject.com/en/6.1/topics/tasks/ with the django-tasks-db backend; the
# worker is `manage.py worker` (db_worker plus heartbeat and periodic jobs). Update jobs run
# hooks that may take minutes: they have a queue of their own, served by a worker of their own
# (`manage.py worker --queue-name updates`), so results, monitors and the audit chain keep
# moving meanwhile. Audit exports and chain verifications (audits/jobs.py) walk the whole
# trail: they have the `audits` queue, served by that same worker of long work
# (`--queue-name updates,audits`). A plain `manage.py worker` serves every queue but those in
# WORKER_DEDICATED_QUEUES, unless named in its --queue-name.
WORKER_DEDICATED_QUEUES = ["updates", "audits"]
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", *WORKER_DEDICATED_QUEUES],
    }
}

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    # Credentials a peer protocol carries in paths (Retraced's enterprise token ids) are
    # printed as [redacted] by every handler.
    "filters": {"secret_paths": {"()": "integration_site.log_masking.SecretPathFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["secret_paths"],
            # Also the handler's level: a record propagated from a logger with a level of its
            # own (Django's `django` is INFO) passes no ancestor's level, so LOG_LEVEL=ERROR
            # on the root alone still printed a warning line for every 4xx (django.request),
            # a line per refused request under a flood.
            "level": os.environ.get("LOG_LEVEL", "INFO"),
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # The worker logs every poll at INFO; keep task start/finish, drop the chatter.
        "django_tasks_db": {"level": "WARNING"},
    },
}

LOGIN_URL = "admin:login"
