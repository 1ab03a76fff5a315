#!/usr/bin/env bash
# The test command: install dev dependencies, then run the whole suite. With DATABASE_URL
# set (postgres://...), the suite runs on that PostgreSQL; otherwise on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/bootstrap_venv.sh dev
# Tests never need a real secret; production refuses to start without one.
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-insecure-test-key-not-for-production}"
# Playwright's sync API runs an event loop in the test thread; Django's ORM guard would
# otherwise refuse the live_server's database calls made from that same thread.
export DJANGO_ALLOW_ASYNC_UNSAFE=true
exec .venv/bin/pytest "$@"
