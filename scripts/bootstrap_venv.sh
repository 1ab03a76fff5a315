#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install the project (re-runs only reinstall when
# pyproject.toml changed), then the npm packages and the JS bundle (scripts/build_js.sh).
# Usage: scripts/bootstrap_venv.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    # pyenv installs live outside PATH when no .python-version applies.
    for candidate in "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3 "$HOME"/.pyenv/versions/3.12*/bin/python3; do
        [ -x "$candidate" ] && { echo "$candidate"; return; }
    done
    echo "No Python >= 3.12 found; set PYTHON=/path/to/python3.13" >&2
    exit 1
}

if [ ! -x .venv/bin/python ]; then
    "$(pick_python)" -m venv .venv
fi

extra="${1:-}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
stamp_of() { cat ".venv/.installed-$1" 2>/dev/null || true; }
# A dev install is a superset of the plain one, so either stamp satisfies the run command.
if [ "$(stamp_of "${extra:-base}")" != "$want" ] && { [ -n "$extra" ] || [ "$(stamp_of dev)" != "$want" ]; }; then
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -e ".${extra:+[$extra]}"
    echo "$want" > ".venv/.installed-${extra:-base}"
fi

# The Retraced logs viewer's bundle and the official Node client (package-lock.json).
./scripts/build_js.sh
