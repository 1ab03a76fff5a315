"""
The database roles of a production PostgreSQL (README "Production database roles"): an owner
role that owns every table and function (NOLOGIN, or used only by migrations) and a site
role that owns nothing. The site connects with DATABASE_URL as the site role; `manage.py
migrate` and `manage.py db_roles_grant` call `migrate_connection_use` first, so they connect
with DATABASE_MIGRATE_URL's login and, given DATABASE_MIGRATE_ROLE, act as that role.
"""

import re

import dj_database_url
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections

# A plain SQL identifier: the role goes into libpq's `options` string, where spaces and
# backslashes would need escaping, and into GRANT statements.
ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")


def role_name_validate(name: str) -> str:
    if not ROLE_NAME.fullmatch(name):
        raise ImproperlyConfigured(
            f"{name!r} is not a plain role name (letters, digits, _ and $, not starting with "
            "a digit)."
        )
    return name


def migrate_connection_use(*, alias: str = DEFAULT_DB_ALIAS) -> bool:
    """
    Point connection `alias` at DATABASE_MIGRATE_URL's user, password, host and port (the
    database name stays, so the test runner's test database is kept) and SET ROLE to
    DATABASE_MIGRATE_ROLE for every statement, through the startup options. Call it before
    the command's first query; returns whether anything changed.
    """
    url, role = settings.DATABASE_MIGRATE_URL, settings.DATABASE_MIGRATE_ROLE
    wrapper = connections[alias]
    if wrapper.vendor != "postgresql" or not (url or role):
        return False
    wrapper.close()
    wrapper.close_pool()  # a pool opened with the site's login would hand its sessions out
    if url:
        login = dj_database_url.parse(url)
        for key in ("USER", "PASSWORD", "HOST", "PORT"):
            wrapper.settings_dict[key] = login[key]
    if role:
        options = wrapper.settings_dict.setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c role={role_name_validate(role)}"
    return True
