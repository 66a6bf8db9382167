#!/usr/bin/env bash
# Create .venv (once) and install Veil into it, with the extras given ("test", "bench", ...).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
extras=""
if [ "$#" -gt 0 ]; then extras="[$(IFS=,; echo "$*")]"; fi
.venv/bin/python -m pip install -q -e ".${extras}" 2>&1 | grep -v -e "^WARNING: Location" -e "^$" || true
.venv/bin/python -c "import veil" >/dev/null
