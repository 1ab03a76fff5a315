#!/usr/bin/env bash
# The long fuzz run (docs/reliability.md, "Bad input and the OpenAPI schema"): schemathesis
# with every check against a live site started as `make run` starts it, on a free loopback
# port, with a token holding every scope. CI runs a bounded version of this
# (tests/hostile/test_schemathesis.py, 3 examples per operation); this is the long one.
#
#   ./scripts/fuzz.sh [max-examples]       # default 100 examples per operation
#
# The site's data lives in a temporary directory (the embedded SQLite default), or in the
# PostgreSQL database DATABASE_URL names, when set (it is migrated, and fuzzed into: use a
# scratch database). FUZZ_REPORT_DIR (default var/fuzz-report) receives schemathesis's JUnit
# and NDJSON reports. Exits with schemathesis's status: non-zero when any check failed.
set -euo pipefail
cd "$(dirname "$0")/.."

max_examples="${1:-100}"
report_dir="${FUZZ_REPORT_DIR:-var/fuzz-report}"
./scripts/bootstrap_venv.sh dev >/dev/null

var_dir="$(mktemp -d -t fuzz-site-XXXXXX)"
port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$var_dir/site.log"
site=""
cleanup() {
    if [ -n "$site" ]; then
        kill -TERM "$site" 2>/dev/null || true
        wait "$site" 2>/dev/null || true
    fi
    rm -rf "$var_dir"
}
trap cleanup EXIT

# The run command, in a process group of its own so that stopping it stops its children.
# The sign-in lockout is off for this site: schemathesis's ignored_auth check sends wrong
# credentials to every operation from this one address and expects 401/403, where the lockout
# would rightly answer 429 after a few (tests/hostile/test_password_flood.py proves it).
INTEGRATION_SITE_VAR_DIR="$var_dir" PORT="$port" DEMO_DATA="${DEMO_DATA:-1}" \
    IDENTITY_LOGIN_MAX_FAILURES=0 IDENTITY_LOGIN_MAX_FAILURES_PER_ADDRESS=0 \
    setsid ./scripts/run.sh >"$log" 2>&1 &
site=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 360); do
    curl -fsS -o /dev/null "$base/admin/login/" 2>/dev/null && break
    if ! kill -0 "$site" 2>/dev/null; then
        cat "$log" >&2
        echo "The site did not start." >&2
        exit 2
    fi
    sleep 0.5
done

manage() {
    INTEGRATION_SITE_VAR_DIR="$var_dir" DJANGO_SECRET_KEY="$(cat "$var_dir/secret_key")" \
        .venv/bin/python manage.py "$@"
}
scopes="$(.venv/bin/python -c 'import sys; sys.path.insert(0, "."); from integration_site.scopes import Scope; print(",".join(Scope.values))')"
token="$(manage create_api_token "fuzz-$$" --scope "$scopes" 2>/dev/null)"

# The schema as the site generates it (the same generator tests/hostile/test_schemathesis.py uses).
manage spectacular --format openapi-json --file "$var_dir/openapi.json" 2>/dev/null

mkdir -p "$report_dir"
echo "Fuzzing $base with $max_examples examples per operation (site log: $log)" >&2
status=0
.venv/bin/schemathesis run "$var_dir/openapi.json" --url "$base" \
    --checks all \
    --max-examples "$max_examples" \
    --header "Authorization: Bearer $token" \
    --request-timeout 70 \
    --suppress-health-check all \
    --no-color \
    --generation-database "$report_dir/examples" \
    --report junit,ndjson --report-dir "$report_dir" || status=$?
# A 5xx leaves a traceback in the site's log; keep the interesting part.
grep -E "Internal Server Error|Traceback|Error:" "$log" | sort | uniq -c | sort -rn | head -20 >&2 || true
exit "$status"
