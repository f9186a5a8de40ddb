#!/usr/bin/env bash
# Lint, types, then tests: the layered checks, cheapest first.
# Usage: scripts/check.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== ruff format --check"; .venv/bin/ruff format --check tfstudio edge_agent tests scripts
echo "== ruff check";          .venv/bin/ruff check tfstudio edge_agent tests scripts
echo "== mypy";                .venv/bin/mypy
echo "== import contracts";    .venv/bin/lint-imports --no-cache
echo "== pytest";              .venv/bin/python -m pytest "$@"
