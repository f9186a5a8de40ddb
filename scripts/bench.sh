#!/usr/bin/env bash
# Runs every benchmark under scripts/bench/ and prints their ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
for b in scripts/bench/bench_*.py; do
  echo "== $b"
  .venv/bin/python "$b"
done
