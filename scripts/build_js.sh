#!/usr/bin/env bash
# Install the npm packages of package-lock.json (`npm ci`) and bundle the Retraced logs viewer
# (js/logs-viewer.jsx with React and @retracedhq/logs-viewer) into
# audits/static/audits/retraced/logs-viewer.js, which the widget page serves (no CDN), and the
# dashboard's charts (js/dashboard.js with Chart.js) into
# integration_site/static/integration_site/dashboard.js (the dashboard shows tables without it).
# Each step re-runs only when its inputs changed. Called by scripts/bootstrap_venv.sh, so by
# `make run` and `make test`.
# Without node and npm it warns and exits 0 (the widget page then says how to build, and the
# official-client test skips); `--require` (CI) makes that an error.
set -euo pipefail
cd "$(dirname "$0")/.."

bundle=audits/static/audits/retraced/logs-viewer.js
if ! command -v npm >/dev/null 2>&1 \
    || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
    message="Node 20+ and npm are not installed: the Retraced logs viewer and the dashboard charts are not built (the dashboard shows tables) and the official-client test is skipped (https://nodejs.org, or apt-get install nodejs npm)."
    if [ "${1:-}" = "--require" ]; then
        echo "$message" >&2
        exit 1
    fi
    echo "WARNING: $message" >&2
    exit 0
fi

stamp_of() { cat "$1" 2>/dev/null || true; }
installed="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(stamp_of node_modules/.installed-lock)" != "$installed" ]; then
    # Scripts of dependencies stay off: esbuild's binary comes from its platform package.
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
    echo "$installed" > node_modules/.installed-lock
fi

built="$(cat package-lock.json js/logs-viewer.jsx scripts/build_js.sh | sha256sum | cut -d' ' -f1)"
if [ ! -s "$bundle" ] || [ "$(stamp_of node_modules/.built-bundle)" != "$built" ]; then
    mkdir -p "$(dirname "$bundle")"
    node_modules/.bin/esbuild js/logs-viewer.jsx --bundle --minify --format=iife \
        --target=es2020 --jsx=automatic --define:process.env.NODE_ENV='"production"' \
        --legal-comments=linked --log-level=warning --outfile="$bundle"
    echo "$built" > node_modules/.built-bundle
fi

charts=integration_site/static/integration_site/dashboard.js
built="$(cat package-lock.json js/dashboard.js scripts/build_js.sh | sha256sum | cut -d' ' -f1)"
if [ ! -s "$charts" ] || [ "$(stamp_of node_modules/.built-dashboard)" != "$built" ]; then
    # --legal-comments=linked: Chart.js's MIT notice travels as dashboard.js.LEGAL.txt.
    node_modules/.bin/esbuild js/dashboard.js --bundle --minify --format=iife \
        --target=es2020 --legal-comments=linked --log-level=warning --outfile="$charts"
    echo "$built" > node_modules/.built-dashboard
fi
