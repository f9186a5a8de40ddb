#!/usr/bin/env bash
# Prepares what the test suite needs beyond the project's venv:
#  - Debian packages: openssh-server (real sshd devices), busybox-static, tmux (the
#    terminal UI's smoke test runs `tfstudio` in a real terminal);
#  - a running Docker Engine and the test images (scripts/docker-test-env.sh:
#    docker.io, debootstrap, a busybox image and a real TensorFlow CPU image,
#    built locally once and cached by tag);
#  - device venvs built from Debian's /usr/bin/python3, world-readable so that
#    per-test device users (useradd) can run them:
#      $TFSTUDIO_TEST_VENVS/device      numpy + ai-edge-litert  (a current device)
#      $TFSTUDIO_TEST_VENVS/old-device  numpy<2 + tflite-runtime 2.14 (an old device)
#      $TFSTUDIO_TEST_VENVS/ansible     ansible-core: the oracle of the inventory reader
#  - runtime releases for `tfstudio compat` and the measured-table tests, built by the
#    studio's own builder (tfstudio.compat.venvs) under $TFSTUDIO_TEST_RUNTIMES
#    (default /opt/tfstudio-test/runtimes): tflite-runtime 2.14.0, ai-edge-litert
#    1.0.1 and 2.3.0 (it needs the project's .venv, which scripts/setup.sh makes).
# Each step is cached: it runs only when its result is missing.
set -euo pipefail

VENVS=${TFSTUDIO_TEST_VENVS:-/opt/tfstudio-test/venvs}
SYS_PY=${TFSTUDIO_DEVICE_PYTHON:-/usr/bin/python3}

need_apt=()
command -v /usr/sbin/sshd >/dev/null 2>&1 || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
[ -x "$SYS_PY" ] || need_apt+=(python3)
"$SYS_PY" -m venv --help >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "prepare-test-env: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! "$SYS_PY" -c 'import ensurepip' >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
mkdir -p /run/sshd

build_venv() {  # name, marker module, pip args...
  local name=$1 marker=$2; shift 2
  local dir="$VENVS/$name"
  if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import $marker" >/dev/null 2>&1; then
    return 0
  fi
  echo "prepare-test-env: building $dir"
  rm -rf "$dir"
  mkdir -p "$VENVS"
  "${SYS_PY}" -m venv --copies "$dir"
  # The host's pip constraint file (if any) is not for these venvs.
  PIP_CONFIG_FILE=/dev/null "$dir/bin/pip" install -q --disable-pip-version-check "$@"
  "$dir/bin/python" -c "import $marker"
}

build_venv device ai_edge_litert numpy ai-edge-litert
build_venv old-device tflite_runtime "numpy<2" tflite-runtime==2.14.0
# `ansible-inventory --list` is the oracle of tfstudio's inventory reader (never a
# dependency of tfstudio itself).
build_venv ansible ansible ansible-core
# The agent promises Python 3.9: a device with the oldest Python we support.
PY39=${TFSTUDIO_PY39:-$(ls -d /root/.pyenv/versions/3.9.*/bin/python3.9 2>/dev/null | tail -n 1)}
if [ -n "$PY39" ] && [ -x "$PY39" ]; then
  SYS_PY=$PY39 build_venv py39-device tflite_runtime "numpy<2" tflite-runtime==2.14.0
else
  echo "prepare-test-env: no Python 3.9 found (set TFSTUDIO_PY39); py39-device not built" >&2
fi
RUNTIMES=${TFSTUDIO_TEST_RUNTIMES:-/opt/tfstudio-test/runtimes}
STUDIO_PY="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"
if [ -x "$STUDIO_PY" ]; then
  mkdir -p "$RUNTIMES"
  # Cached: a release whose venv has its runtime.json is not built again.
  TFSTUDIO_RUNTIMES="$RUNTIMES" PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)" "$STUDIO_PY" \
    -m tfstudio.compat.venvs tflite-runtime==2.14.0 ai-edge-litert==1.0.1 ai-edge-litert==2.3.0
else
  echo "prepare-test-env: no .venv yet (run scripts/setup.sh); runtime releases not built" >&2
fi
chmod -R a+rX "$(dirname "$VENVS")"
"$(dirname "$0")/docker-test-env.sh"
echo "prepare-test-env: ready ($VENVS)"
