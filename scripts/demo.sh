#!/usr/bin/env bash
# One command for a newcomer: set everything up, then run tfstudio's main job.
# Today that is the demo: train a small CNN on the digits shipped with
# scikit-learn, convert it in every quantization mode, and print the table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/tfstudio demo "$@"
