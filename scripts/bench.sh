#!/usr/bin/env bash
# Runs every benchmark under scripts/bench/ and prints one table of their headlines.
#   scripts/bench.sh [--quick] [--write-docs] [--only help,deploy_big]
# --quick: fewer rounds and small sizes (a few minutes); --write-docs: the table,
# with the machine, its load and the date, goes into docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
exec .venv/bin/python scripts/bench/run_all.py "$@"
