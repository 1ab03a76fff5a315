import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection


def _settings_value(expression: str, **env: str) -> str:
    """Evaluate a settings expression in a fresh interpreter with the given environment."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from django.conf import settings; print({expression})",
        ],
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "integration_site.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_log_level_holds_for_djangos_own_loggers(tmp_path):
    # django.request logs every 4xx as a warning; LOG_LEVEL=ERROR must silence it too.
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('django.request').warning('Too Many Requests: /x'); "
        "logging.getLogger('django.request').error('Internal Server Error: /y')"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "integration_site.settings",
        "DJANGO_SECRET_KEY": "k",
        "INTEGRATION_SITE_VAR_DIR": str(tmp_path),
    }

    def logged(**more: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", script],
            env={**env, **more},
            capture_output=True,
            text=True,
            check=True,
        ).stderr

    quiet = logged(LOG_LEVEL="ERROR")
    assert "Too Many Requests" not in quiet and "Internal Server Error: /y" in quiet
    assert "Too Many Requests: /x" in logged()


def test_debug_is_off_unless_asked_for(tmp_path):
    env = {"DJANGO_SECRET_KEY": "k", "INTEGRATION_SITE_VAR_DIR": str(tmp_path)}
    assert _settings_value("settings.DEBUG", **env) == "False"
    assert _settings_value("settings.DEBUG", DJANGO_DEBUG="1", **env) == "True"


def test_embedded_default_is_sqlite_under_var(tmp_path):
    env = {"DJANGO_SECRET_KEY": "k", "INTEGRATION_SITE_VAR_DIR": str(tmp_path)}
    name = _settings_value("settings.DATABASES['default']['NAME']", **env)
    assert name == str(tmp_path / "integration_site.sqlite3")


def test_database_url_switches_to_postgresql_with_a_pool(tmp_path):
    env = {
        "DJANGO_SECRET_KEY": "k",
        "INTEGRATION_SITE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://u:p@db.example:5433/app",
        "DATABASE_POOL_MAX_SIZE": "7",
    }
    engine = _settings_value("settings.DATABASES['default']['ENGINE']", **env)
    pool = _settings_value("settings.DATABASES['default']['OPTIONS']['pool']['max_size']", **env)
    age = _settings_value("settings.DATABASES['default']['CONN_MAX_AGE']", **env)
    assert (engine, pool, age) == ("django.db.backends.postgresql", "7", "0")


def test_hot_inserts_are_prepared_unless_switched_off(tmp_path):
    env = {
        "DJANGO_SECRET_KEY": "k",
        "INTEGRATION_SITE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://u:p@db.example:5433/app",
    }
    threshold = "settings.DATABASES['default']['OPTIONS']['prepare_threshold']"
    assert _settings_value(threshold, **env) == "0"
    assert _settings_value(threshold, DATABASE_PREPARE_INSERTS="0", **env) == "None"


def test_https_switch_turns_on_secure_cookies_and_redirect(tmp_path):
    env = {"DJANGO_SECRET_KEY": "k", "INTEGRATION_SITE_VAR_DIR": str(tmp_path), "DJANGO_HTTPS": "1"}
    assert (
        _settings_value(
            "(settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)",
            **env,
        )
        == "(True, True, True)"
    )


def test_times_are_stored_in_utc():
    assert settings.USE_TZ is True
    assert settings.TIME_ZONE == "UTC"


def test_suite_runs_on_the_configured_database():
    # CI runs the suite twice; this pins which engine each run really used.
    expected = "postgresql" if "postgres" in settings.DATABASE_URL else "sqlite"
    assert connection.vendor == expected


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="the embedded default's own pragmas")
def test_sqlite_syncs_every_commit_so_an_answered_write_survives_power_loss():
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 2  # FULL; NORMAL (1) may lose acknowledged commits


@pytest.mark.parametrize(
    ("count", "host", "warned"),
    [
        (0, "0.0.0.0", False),  # no hop count: X-Forwarded-For is ignored
        (1, "127.0.0.1", False),
        (1, "::1", False),
        (1, "localhost", False),
        (1, "0.0.0.0", True),
        (1, "10.0.0.5", True),
        (1, "", True),  # unknown bind: assume exposed
    ],
)
def test_deploy_check_warns_when_a_hop_count_meets_a_reachable_port(settings, count, host, warned):
    from integration_site.checks import trusted_proxy_count_check

    settings.TRUSTED_PROXY_COUNT = count
    settings.BIND_HOST = host
    ids = [message.id for message in trusted_proxy_count_check(None)]
    assert ids == (["integration_site.W001"] if warned else [])


def test_postgresql_sessions_start_with_time_limits_and_keepalives(tmp_path):
    env = {
        "DJANGO_SECRET_KEY": "k",
        "INTEGRATION_SITE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://u:p@db.example:5433/app?sslmode=require",
        "DATABASE_STATEMENT_TIMEOUT_MS": "5000",
    }
    options = "settings.DATABASES['default']['OPTIONS']"
    assert _settings_value(f"{options}['options']", **env) == (
        "-c statement_timeout=5000 -c idle_in_transaction_session_timeout=60000 "
        "-c client_connection_check_interval=2000 -c tcp_keepalives_idle=30 "
        "-c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"
    )
    keepalives = f"[{options}[k] for k in ('keepalives', 'keepalives_idle', 'sslmode')]"
    assert _settings_value(keepalives, **env) == "[1, 30, 'require']"


def test_each_replica_url_is_an_alias_with_the_primarys_limits_and_no_pool(tmp_path):
    env = {
        "DJANGO_SECRET_KEY": "k",
        "INTEGRATION_SITE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://u:p@db.example:5433/app",
        "DATABASE_REPLICA_URL": "postgres://u:p@r1.example/app, postgres://u:p@r2.example/app",
    }
    aliases = _settings_value("sorted(settings.DATABASES)", **env)
    assert aliases == "['default', 'replica_1', 'replica_2']"
    replica = "settings.DATABASES['replica_2']"
    assert _settings_value(f"{replica}['HOST']", **env) == "r2.example"
    assert _settings_value(f"{replica}['ENGINE']", **env) == "integration_site.db_replica"
    assert _settings_value(f"'pool' in {replica}['OPTIONS']", **env) == "False"
    assert _settings_value(f"{replica}['OPTIONS']['connect_timeout']", **env) == "2"
    assert _settings_value(f"{replica}['TEST']", **env) == "{'MIRROR': 'default'}"
    options = _settings_value(f"{replica}['OPTIONS']['options']", **env)
    assert "-c statement_timeout=30000" in options
    assert options == _settings_value("settings.DATABASES['default']['OPTIONS']['options']", **env)


@pytest.mark.parametrize(
    ("database_url", "replica_url", "refusal"),
    [
        ("", "postgres://u@r1/app", "DATABASE_REPLICA_URL needs PostgreSQL"),
        ("postgres://u@db/app", "mysql://u@r1/app", "entry 1 is not a postgres:// URL"),
    ],
)
def test_a_replica_without_postgresql_is_refused_at_start_up(
    tmp_path, database_url, replica_url, refusal
):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "integration_site.settings",
        "DJANGO_SECRET_KEY": "k",
        "INTEGRATION_SITE_VAR_DIR": str(tmp_path),
        "DATABASE_REPLICA_URL": replica_url,
        **({"DATABASE_URL": database_url} if database_url else {}),
    }
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; settings.DATABASES"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert refusal in result.stderr


def test_server_side_cursors_can_be_switched_off_for_a_transaction_pooler(tmp_path):
    env = {
        "DJANGO_SECRET_KEY": "k",
        "INTEGRATION_SITE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://u:p@db.example:5433/app",
        "DATABASE_REPLICA_URL": "postgres://u:p@r1.example/app",
    }
    disabled = (
        "[settings.DATABASES[a]['DISABLE_SERVER_SIDE_CURSORS'] for a in ('default', 'replica_1')]"
    )
    assert _settings_value(disabled, **env) == "[False, False]"
    assert _settings_value(disabled, DATABASE_SERVER_SIDE_CURSORS="0", **env) == "[True, True]"


@pytest.mark.parametrize(
    ("name", "default"), [("SLOW_SEARCH_SLOTS", "2"), ("RETRACED_SEARCH_BUSY_BUDGET_MS", "100")]
)
def test_slow_search_limits_below_one_are_refused_at_start_up(tmp_path, name, default):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "integration_site.settings",
        "DJANGO_SECRET_KEY": "k",
        "INTEGRATION_SITE_VAR_DIR": str(tmp_path),
        name: "0",
    }
    result = subprocess.run(
        [sys.executable, "-c", f"from django.conf import settings; settings.{name}"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert f"{name} must be at least 1, got 0" in result.stderr
    env.pop(name)
    assert _settings_value(f"settings.{name}", **env) == default
