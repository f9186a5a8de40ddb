#!/usr/bin/env bash
# Lint, types, then tests: the layered checks, cheapest first.
# Usage: scripts/check.sh [--fast] [pytest args...]
#
# Two test tiers, derived from the fixtures each test uses (tests/plugins/tiers.py):
#   full (no flag)  every test: what CI runs (.ci/run -> scripts/test.sh -> here).
#   --fast          `pytest -m fast`: no TensorFlow conversion child, no dockerd, no
#                   container image, no slow scenario; still real LiteRT, agents as
#                   subprocesses, loopback sshd and Textual's Pilot. A few minutes at most.
# The full tier runs as four pytest processes side by side, split by marks the tier hook
# sets: TensorFlow without Docker; Docker (with or without TensorFlow) and the slow
# scenarios that need neither; the rest in two parts (tests/plugins/tiers.SECOND_PART).
# Every container of the run is the Docker process's, so the tests that check no
# container is left see only their own; a test that checks no conversion child is left
# looks at its own process's children. The fast tier runs as two processes (the
# second part, and the rest). Pytest arguments (a path, -k, --durations=15) go to every
# process (one pytest runs them when they hold a -m of their own). To debug a test
# (--pdb), run .venv/bin/python -m pytest directly.
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
for arg in "$@"; do
  case "$arg" in -m*) echo "== pytest $*"; exec "${pytest[@]}" "$@" ;; esac  # your own -m
done
if [ "$fast" = 1 ]; then
  groups=("fast and not second_part" "fast and second_part")
  echo "== pytest: the fast tier, in ${#groups[@]} processes (the other's output follows)"
else
  rest="not needs_tf and not needs_docker and not needs_time"
  groups=(
    "needs_tf and not needs_docker"
    "needs_docker or (needs_time and not needs_tf)"
    "$rest and not second_part"
    "$rest and second_part"
  )
  echo "== pytest: the full tier, in ${#groups[@]} processes (the others' output follows)"
fi
# Job control: each background pytest gets its own process group and keeps the default
# SIGINT, which tests send to the CLIs they start (a background job of a script has it
# ignored, and its children would inherit that).
pids=()
logs=()
set -m
for group in "${groups[@]:1}"; do
  logs+=("$(mktemp /tmp/tfstudio-check-XXXXXX.log)")
  "${pytest[@]}" -p no:cacheprovider -m "$group" "$@" >"${logs[-1]}" 2>&1 &
  pids+=($!)
done
set +m
trap 'for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || true; done' INT TERM
codes=(0)
"${pytest[@]}" -m "${groups[0]}" "$@" || codes[0]=$?
for i in "${!pids[@]}"; do
  code=0
  wait "${pids[$i]}" || code=$?
  codes+=("$code")
  echo "== pytest -m '${groups[$((i + 1))]}' (ran beside it)"
  cat "${logs[$i]}"
  rm -f "${logs[$i]}"
done
trap - INT TERM
# 5 is "no tests collected": fine for some of them when arguments chose a few tests.
status=5
for code in "${codes[@]}"; do
  if [ "$code" != 0 ] && [ "$code" != 5 ]; then exit "$code"; fi
  if [ "$code" = 0 ]; then status=0; fi
done
exit "$status"
