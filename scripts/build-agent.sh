#!/usr/bin/env bash
# Builds the single-file edge agent: scripts/build-agent.sh [DEST] (default dist/tfstudio-agent.pyz)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-dist/tfstudio-agent.pyz}
mkdir -p "$(dirname "$DEST")"
PY=${PYTHON:-.venv/bin/python}
"$PY" -c 'import sys; from pathlib import Path; from tfstudio.fleet.agent_bundle import build_agent_pyz, agent_bundle_sha256; p = build_agent_pyz(Path(sys.argv[1])); print(p, agent_bundle_sha256())' "$DEST"
