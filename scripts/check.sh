#!/usr/bin/env bash
# Lint, types, then tests: the layered checks, cheapest first.
# Usage: scripts/check.sh [--fast] [pytest args...]
#
# Two test tiers, derived from the fixtures each test uses (tests/plugins/tiers.py):
#   full (no flag)  every test: what CI runs (.ci/run -> scripts/test.sh -> here).
#   --fast          `pytest -m fast`: no TensorFlow conversion child, no dockerd, no
#                   container image, no slow scenario; still real LiteRT, agents as
#                   subprocesses, loopback sshd and Textual's Pilot. A few minutes at most.
# The full tier runs as two pytest processes side by side: the tests that need TensorFlow
# or the Docker Engine (`-m needs_tf_or_docker`: every conversion child and container of
# the run is that process's, so their checks of what is left over hold) and all the
# others; pytest arguments (a path, -k, --durations=15) go to both (one pytest runs
# them when they hold a -m of their own). To debug a test (--pdb), run
# .venv/bin/python -m pytest directly.
# Both tiers read generated models from the per-machine model cache ($TFSTUDIO_TEST_CACHE,
# default /var/tmp/tfstudio-test-cache; tests/helpers/model_cache.py). On a cold cache a
# run builds the models it needs once, with TensorFlow in the pytest process, and says so
# at the end; every later run on the machine reads them.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
if [ "${1:-}" = "--fast" ]; then
  fast=1
  shift
fi
echo "== ruff format --check"; .venv/bin/ruff format --check tfstudio edge_agent tests scripts
echo "== ruff check";          .venv/bin/ruff check tfstudio edge_agent tests scripts
echo "== mypy";                .venv/bin/mypy
echo "== import contracts";    .venv/bin/lint-imports --no-cache
pytest=(.venv/bin/python -m pytest)
if [ "$fast" = 1 ]; then
  echo "== pytest: the fast tier"
  exec "${pytest[@]}" -m fast "$@"
fi
for arg in "$@"; do
  case "$arg" in -m*) echo "== pytest $*"; exec "${pytest[@]}" "$@" ;; esac  # your own -m
done
echo "== pytest: the full tier, in two processes (the second one's output follows)"
log=$(mktemp /tmp/tfstudio-check-XXXXXX.log)
# Job control: the background pytest gets its own process group and keeps the default
# SIGINT, which tests send to the CLIs they start (a background job of a script has it
# ignored, and its children would inherit that).
set -m
"${pytest[@]}" -p no:cacheprovider -m "not needs_tf_or_docker" "$@" >"$log" 2>&1 &
others=$!
set +m
trap 'kill -- "-$others" 2>/dev/null || true' INT TERM
needs=0
"${pytest[@]}" -m needs_tf_or_docker "$@" || needs=$?
rest=0
wait "$others" || rest=$?
trap - INT TERM
echo "== pytest -m 'not needs_tf_or_docker' (ran beside it)"
cat "$log"
rm -f "$log"
# 5 is "no tests collected": fine for one of the two when arguments chose a few tests.
if [ "$needs" = 5 ] && [ "$rest" != 5 ]; then needs=0; fi
if [ "$rest" = 5 ] && [ "$needs" != 5 ]; then rest=0; fi
exit $((needs != 0 ? needs : rest))
