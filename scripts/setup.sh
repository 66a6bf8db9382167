#!/usr/bin/env bash
# Create .venv (once) and install Veil into it, with the extras given ("test", "bench", ...).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
pip_quiet() {  # run pip quietly; on failure show what it said
  if ! .venv/bin/python -m pip "$@" >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" >&2
    echo "setup: pip $* failed" >&2
    exit 1
  fi
}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  pip_quiet install -q --upgrade pip
fi
extras=""
if [ "$#" -gt 0 ]; then extras="[$(IFS=,; echo "$*")]"; fi
pip_quiet install -q -e ".${extras}"
.venv/bin/python -c "import veil"
# Byte-compile Veil's own modules once: with PYTHONDONTWRITEBYTECODE set (as on some
# machines), every `veil` process would otherwise compile them again (~0.15 s each).
.venv/bin/python -m compileall -q src/veil >/dev/null || true
