#!/usr/bin/env bash
# The run command: install, migrate, create the first admin, load demo data on an empty
# database, then serve gunicorn and the two task workers (each restarted if it dies) until
# Ctrl-C or SIGTERM: the main one (results, periodic jobs, every queue but `updates` and
# `audits`) and the one for long work, update hooks and audit exports and verifications,
# which may run for minutes (`--queue-name updates,audits`).
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

# A task worker (`manage.py worker` with the arguments given) is restarted when it dies, with
# a doubling backoff (1 s up to 60 s, back to 1 s once a run has lasted 10 minutes), while
# gunicorn keeps serving the API. After WORKER_MAX_RESTARTS failed runs in a row the run
# command gives up and exits non-zero, so a supervisor (systemd's Restart=on-failure) takes
# over. Each worker has a supervisor of its own.
supervise_worker() {
    local child="" delay=1 failures=0 status started
    local max_restarts="${WORKER_MAX_RESTARTS:-10}"
    trap 'if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi; exit 0' INT TERM
    while true; do
        started=$SECONDS
        .venv/bin/python manage.py worker "$@" &
        child=$!
        status=0
        wait "$child" || status=$?
        child=""
        if ((SECONDS - started >= 600)); then
            delay=1
            failures=0
        fi
        failures=$((failures + 1))
        if ((failures > max_restarts)); then
            echo "The task worker failed $max_restarts times in a row (last status $status); giving up (manage.py worker $*)." >&2
            exit 1
        fi
        echo "The task worker exited with status $status; restarting it in ${delay}s (restart $failures of $max_restarts; manage.py worker $*)." >&2
        sleep "$delay" &
        child=$!
        wait "$child" || true
        child=""
        delay=$((delay * 2 > 60 ? 60 : delay * 2))
    done
}

.venv/bin/gunicorn integration_site.wsgi:application \
    --config integration_site/gunicorn_conf.py --bind "$HOST:$PORT" &
pids+=($!)
supervise_worker &
pids+=($!)
supervise_worker --queue-name updates,audits &
pids+=($!)

echo "Integration Site is up at http://$HOST:$PORT/admin/ (Ctrl-C stops it)"
# gunicorn ending, or a worker's supervisor giving up, is a failure the run command cannot
# recover from: stop the others and exit non-zero. Ctrl-C and SIGTERM go through stop (exit 0).
status=0
wait -n "${pids[@]}" || status=$?
echo "A process of the site exited unexpectedly (status $status); stopping." >&2
trap - INT TERM
kill -TERM "${pids[@]}" 2>/dev/null || true
wait "${pids[@]}" 2>/dev/null || true
exit $((status == 0 ? 1 : status))
