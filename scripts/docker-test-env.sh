#!/usr/bin/env bash
# The Docker side of the test environment (called by prepare-test-env.sh):
#  1. Debian packages: docker.io (engine + CLI), busybox-static, debootstrap;
#  2. a running dockerd (started in the background when `docker info` fails);
#  3. a one-node swarm: the engine becomes a swarm manager (`docker swarm init
#     --advertise-addr 127.0.0.1`) unless it is one already, for the multi-worker
#     tests; services and networks a killed test run left behind are removed
#     (`--cleanup-swarm` does only that, for .ci/run's exit);
#  4. the test images, built locally because no registry is reachable, and
#     cached by tag (rebuilt only when `docker image inspect` does not find them):
#       $TFSTUDIO_TEST_BUSYBOX_IMAGE  a tiny busybox image (docker import of a folder)
#       $TFSTUDIO_TEST_TF_IMAGE       a real TensorFlow CPU image: debootstrap minbase
#                                     + python3 venv + pip install tensorflow-cpu,
#                                     then docker import (about 1.5 min, once)
# Every step fails loudly; a half-built image never gets its final tag (it is
# imported under a temporary tag, verified, then tagged), and the rootfs is
# removed on every exit path.
set -euo pipefail

BUSYBOX_IMAGE=${TFSTUDIO_TEST_BUSYBOX_IMAGE:-tfstudio-test/busybox:1.35.0}
TF_IMAGE=${TFSTUDIO_TEST_TF_IMAGE:-tfstudio-local/tensorflow:2.21.0-cpu}
TF_VERSION=${TFSTUDIO_TEST_TF_VERSION:-2.21.0}
DEBIAN_MIRROR=${TFSTUDIO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKERD_LOG=${TFSTUDIO_DOCKERD_LOG:-/tmp/dockerd.log}

say() { echo "docker-test-env: $*"; }
die() { echo "docker-test-env: error: $*" >&2; exit 1; }

# Multi-worker jobs' services and networks carry tfstudio.kind=group; only those go.
cleanup_swarm() {
  docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null | grep -qx true || return 0
  local services networks
  services=$(docker service ls -q --filter label=tfstudio.kind=group)
  if [ -n "$services" ]; then
    say "removing $(echo "$services" | wc -l) leftover multi-worker service(s)"
    # shellcheck disable=SC2086
    docker service rm $services >/dev/null
  fi
  networks=$(docker network ls -q --filter label=tfstudio.kind=group)
  [ -n "$networks" ] || return 0
  for _ in $(seq 1 80); do  # the services' containers leave the networks first
    # shellcheck disable=SC2086
    docker network rm $networks >/dev/null 2>&1 && return 0
    networks=$(docker network ls -q --filter label=tfstudio.kind=group)
    [ -n "$networks" ] || return 0
    sleep 0.25
  done
  say "warning: networks still in use: $networks"
}

if [ "${1:-}" = "--cleanup-swarm" ]; then
  cleanup_swarm
  exit 0
fi

# -- 1. packages -------------------------------------------------------------
need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v docker >/dev/null 2>&1 || need_apt+=(docker.io)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need_apt+=(busybox-static)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
if [ ${#need_apt[@]} -gt 0 ]; then
  mapfile -t need_apt < <(printf '%s\n' "${need_apt[@]}" | sort -u)
  say "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
getent group docker >/dev/null || groupadd --system docker

# -- 2. the engine -----------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (log: $DOCKERD_LOG)"
  nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -n 20 "$DOCKERD_LOG" >&2; die "dockerd did not start"; }
fi

# -- 3. a one-node swarm ------------------------------------------------------
# Never `docker swarm leave`: other suites share this engine, and its containers
# run as before in a swarm.
swarm_state=$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}')
case "$swarm_state" in
  "active true") say "the engine is a swarm manager already" ;;
  "inactive "*)
    say "docker swarm init --advertise-addr 127.0.0.1"
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null ;;
  *) die "the engine is in a swarm but not a manager ($swarm_state): the multi-worker tests need one" ;;
esac
cleanup_swarm

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# -- 4a. busybox ---------------------------------------------------------------
build_busybox() (  # a subshell, so that its EXIT trap removes the folder
  local root busybox
  busybox=$(command -v busybox)
  root=$(mktemp -d /var/tmp/tfstudio-busybox.XXXXXX)
  trap 'rm -rf --one-file-system "$root"' EXIT
  mkdir -p "$root/bin" "$root/tmp" "$root/workspace"
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/bin' -c 'CMD ["sh"]' -c 'LABEL org.opencontainers.image.title=busybox' \
    - "$BUSYBOX_IMAGE" >/dev/null
  docker run --rm --network none "$BUSYBOX_IMAGE" echo ok | grep -qx ok \
    || { docker image rm -f "$BUSYBOX_IMAGE" >/dev/null 2>&1; die "$BUSYBOX_IMAGE does not run"; }
)

if have_image "$BUSYBOX_IMAGE"; then
  say "$BUSYBOX_IMAGE cached"
else
  say "building $BUSYBOX_IMAGE"
  build_busybox
fi

# -- 4b. TensorFlow ------------------------------------------------------------
ROOTFS=""
cleanup_rootfs() {
  [ -n "$ROOTFS" ] && [ -d "$ROOTFS" ] || return 0
  # debootstrap mounts /proc and /sys inside the target; a failed run can leave
  # them mounted, and rm must never walk into the host's /proc.
  { grep -o " $ROOTFS/[^ ]*" /proc/mounts || true; } | sort -r | while read -r mnt; do
    umount -l "$mnt" 2>/dev/null || true
  done
  rm -rf --one-file-system "$ROOTFS"
  ROOTFS=""
}

build_tf() {
  local started tmp_tag got
  started=$(date +%s)
  tmp_tag="tfstudio-local/tensorflow-build:$$"
  ROOTFS=$(mktemp -d /var/tmp/tfstudio-tf-rootfs.XXXXXX)
  trap 'cleanup_rootfs; docker image rm -f "'"$tmp_tag"'" >/dev/null 2>&1 || true' EXIT
  say "debootstrap (minbase, python3) into $ROOTFS"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$ROOTFS" "$DEBIAN_MIRROR" >"$ROOTFS.log" 2>&1 \
    || { tail -n 20 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; die "debootstrap failed"; }
  rm -f "$ROOTFS.log"
  cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  # The build machine's CA bundle (it may hold a proxy's CA that pip must trust).
  local host_ca=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
  [ -f "$host_ca" ] || die "no CA bundle at $host_ca (set PIP_CERT)"
  cp "$host_ca" "$ROOTFS/tmp/build-ca.crt"
  say "debootstrap done after $(($(date +%s) - started)) s; pip install tensorflow-cpu==$TF_VERSION inside the rootfs"
  # A clean environment: the host's pip config (find-links, constraints) names
  # paths that do not exist inside the chroot.
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 PIP_CONFIG_FILE=/dev/null \
    PIP_CERT=/tmp/build-ca.crt PIP_DEFAULT_TIMEOUT=180 \
    "$(command -v chroot)" "$ROOTFS" sh -c "python3 -m venv /opt/venv && \
      /opt/venv/bin/pip install -q --no-cache-dir --disable-pip-version-check \
        tensorflow-cpu==$TF_VERSION" \
    || die "pip install tensorflow-cpu==$TF_VERSION failed inside the rootfs"
  # The image must not carry the build machine's resolver config or CA bundle.
  rm -f "$ROOTFS/tmp/build-ca.crt"
  : >"$ROOTFS/etc/resolv.conf"
  rm -rf "$ROOTFS/var/cache/apt/archives/"*.deb "$ROOTFS/var/lib/apt/lists/"* "$ROOTFS/root/.cache"
  say "pip done after $(($(date +%s) - started)) s; docker import as $TF_IMAGE"
  tar -C "$ROOTFS" -c . | docker import \
    -c 'ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin' \
    -c 'ENV TF_CPP_MIN_LOG_LEVEL=2' \
    -c "LABEL org.tensorflow.version=$TF_VERSION" \
    -c 'WORKDIR /workspace' \
    - "$tmp_tag" >/dev/null
  cleanup_rootfs
  got=$(docker run --rm --network none "$tmp_tag" \
    python -c 'import tensorflow as tf; print(tf.__version__)' 2>/dev/null | tail -n 1)
  [ "$got" = "$TF_VERSION" ] || die "the new image imports tensorflow '$got', not $TF_VERSION"
  docker tag "$tmp_tag" "$TF_IMAGE"
  docker image rm "$tmp_tag" >/dev/null
  trap - EXIT
  say "built $TF_IMAGE in $(($(date +%s) - started)) s"
}

if have_image "$TF_IMAGE"; then
  say "$TF_IMAGE cached"
else
  build_tf
fi
say "ready ($BUSYBOX_IMAGE, $TF_IMAGE)"
