#!/usr/bin/env bash
# The run command: install, migrate, create the first admin, load demo data on an empty
# database, then serve gunicorn and the task worker until Ctrl-C or SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/bootstrap_venv.sh
VAR_DIR="${INTEGRATION_SITE_VAR_DIR:-var}"
mkdir -p "$VAR_DIR"

# A newcomer needs no configuration: keep a generated key in var/ (never committed).
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
    if [ ! -s "$VAR_DIR/secret_key" ]; then
        (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' > "$VAR_DIR/secret_key")
    fi
    DJANGO_SECRET_KEY="$(cat "$VAR_DIR/secret_key")"
    export DJANGO_SECRET_KEY
fi

.venv/bin/python manage.py migrate --no-input
.venv/bin/python manage.py collectstatic --no-input --verbosity 0
.venv/bin/python manage.py bootstrap

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"

pids=()
stop() {
    trap - INT TERM
    echo "Stopping..."
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    exit 0
}
trap stop INT TERM

.venv/bin/gunicorn integration_site.wsgi:application \
    --config integration_site/gunicorn_conf.py --bind "$HOST:$PORT" &
pids+=($!)
.venv/bin/python manage.py worker &
pids+=($!)

echo "Integration Site is up at http://$HOST:$PORT/admin/ (Ctrl-C stops it)"
# Whichever process dies first takes the other down with it.
wait -n "${pids[@]}" || true
stop
