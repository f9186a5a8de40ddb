#!/usr/bin/env bash
# One command that sets everything up and runs the whole test suite:
#   1. the project's venv (scripts/setup.sh);
#   2. Debian packages and device venvs the tests use (scripts/prepare-test-env.sh);
#   3. lint, types and every test (scripts/check.sh).
# The tests start their own services (sshd on loopback ports) as fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/prepare-test-env.sh
exec scripts/check.sh "$@"
