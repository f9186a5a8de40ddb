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

# A venv without pip (Debian's python3 lacks ensurepip until python3-venv is
# installed) is a failed one: it is made again.
if [ -x .venv/bin/python ] && ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  if ! "$PY" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "setup: $PY cannot create a venv yet; apt-get install python$ver-venv"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq "python$ver-venv" >/dev/null \
        || { echo "setup: apt-get install python$ver-venv failed" >&2; exit 1; }
      "$PY" -m venv .venv
    else
      echo "setup: $PY cannot create a venv (no ensurepip); install it first:" \
        "sudo apt-get install python$ver-venv" >&2
      exit 1
    fi
  fi
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
echo "setup: ready; next: .venv/bin/tfstudio (the UI; d runs the demo) or .venv/bin/tfstudio demo"
