#!/usr/bin/env bash
# The demo, from a fresh checkout: set up .venv (scripts/setup.sh), then
#  - on a terminal: open the UI, where `d` runs the demo with progress per stage;
#  - without one (a pipe, CI, ssh without -t): run it headless and print the table.
# Either way: train the digits CNN (in a container of the TensorFlow image when the
# local Docker Engine has it, else in this process), convert it in every mode, deploy
# each variant to the built-in `local` device, bench each there.
# Arguments go to `tfstudio demo` (headless only), e.g. --json or --device NAME.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
if [ -t 0 ] && [ -t 1 ] && [ $# -eq 0 ]; then
  echo "demo.sh: opening the UI; press d for the demo, q to quit" >&2
  exec .venv/bin/tfstudio ui
fi
exec .venv/bin/tfstudio demo "$@"
