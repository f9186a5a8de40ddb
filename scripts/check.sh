#!/usr/bin/env bash
# Lint, types, then tests: the layered checks, cheapest first.
# Usage: scripts/check.sh [--fast] [pytest args...]
#
# Two test tiers, derived from the fixtures each test uses (tests/plugins/tiers.py):
#   full (no flag)  every test: what CI runs (.ci/run -> scripts/test.sh -> here).
#   --fast          `pytest -m fast`: the tests that need no TensorFlow conversion child,
#                   no dockerd and no container image; still real LiteRT, agents as
#                   subprocesses, loopback sshd and Textual's Pilot. A few minutes at most.
# Both read generated models from the per-machine model cache ($TFSTUDIO_TEST_CACHE,
# default /var/tmp/tfstudio-test-cache; tests/helpers/model_cache.py). On a cold cache a
# run builds the models it needs once, with TensorFlow in the pytest process, and says so
# at the end; every later run on the machine reads them.
# Other pytest arguments pass through (a path, -k, -x, --durations=15).
set -euo pipefail
cd "$(dirname "$0")/.."
tier=()
if [ "${1:-}" = "--fast" ]; then
  shift
  tier=(-m fast)
fi
echo "== ruff format --check"; .venv/bin/ruff format --check tfstudio edge_agent tests scripts
echo "== ruff check";          .venv/bin/ruff check tfstudio edge_agent tests scripts
echo "== mypy";                .venv/bin/mypy
echo "== import contracts";    .venv/bin/lint-imports --no-cache
echo "== pytest ${tier[*]:-(full tier)}"
.venv/bin/python -m pytest ${tier[@]+"${tier[@]}"} "$@"
