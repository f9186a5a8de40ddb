#!/usr/bin/env bash
# Creates .venv (if needed) and installs tfstudio with all extras into it.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${TFSTUDIO_PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.10 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PY=$cand; break; fi
  done
fi
[ -n "$PY" ] || { echo "setup: no python3 found; install Python 3.10+ first" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.tfstudio-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing tfstudio[convert,agent,train,gpu,dev] (about 30 s the first time)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[convert,agent,train,gpu,dev]" 2>&1 \
    | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import tfstudio, edge_agent, tensorflow, ai_edge_litert, paramiko, docker, pynvml" 2>/dev/null \
    || { echo "setup: installation failed" >&2; exit 1; }
  touch "$stamp"
fi
echo "setup: ready (.venv/bin/tfstudio)"
