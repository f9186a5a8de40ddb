"""`TF_CONFIG` for multi-worker jobs: the cluster every worker is told, and its own index.

`tf.distribute.MultiWorkerMirroredStrategy` reads `TF_CONFIG` when it is made:
the addresses of every worker (`cluster.worker`, the same list and order on
every worker) and which of them this process is (`task.index`; index 0 is the
chief, which writes the exports). Pure functions: no engine, no TensorFlow.

On Docker Swarm each worker is its own service, so its `TF_CONFIG` is a
plain environment variable. On Kubernetes every pod of an Indexed Job has
the same template, so `TF_CONFIG` is built inside the container from
`JOB_COMPLETION_INDEX` by `index_script` (POSIX sh, which every image with a
Python has).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence

from tfstudio.errors import UsageError

DEFAULT_PORT = 12345
"""Where each worker's gRPC server listens (any free port works; all workers use one)."""
MAX_WORKERS = 64
"""A bound on `--workers`, so that a typo (`--workers 200`) is refused, not scheduled."""
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
"""A group's name: a DNS label (both Swarm's service names and Kubernetes names), with
room for the `-w63` (Swarm) and `-63` (Kubernetes pod) suffixes."""


def check_group_name(name: str) -> str:
    """Returns `name` if it can name a multi-worker job's services and pods.

    Raises UsageError (lower-case letters, digits and '-', at most 40).
    """
    if not _NAME.match(name):
        raise UsageError(
            f"--name {name!r} cannot name a multi-worker job",
            hint="use at most 40 lower-case letters, digits and '-' (it becomes DNS names)",
        )
    return name


def check_workers(workers: int, *, least: int = 2) -> int:
    """Returns `workers` if it is a count a multi-worker job can have. Raises UsageError."""
    if not least <= workers <= MAX_WORKERS:
        raise UsageError(
            f"--workers {workers}: a multi-worker job has {least} to {MAX_WORKERS} workers",
            hint="a one-container job needs no --workers" if workers == 1 else None,
        )
    return workers


def check_port(port: int) -> int:
    """Returns `port` if it is a usable TCP port. Raises UsageError."""
    if not 1024 <= port <= 65535:
        raise UsageError(f"--worker-port {port}: use a port from 1024 to 65535")
    return port


def swarm_host(group: str, index: int) -> str:
    """Returns worker `index`'s service name, which is also its DNS name on the job's network."""
    return f"{group}-w{index}"


def swarm_cluster(group: str, workers: int, port: int = DEFAULT_PORT) -> list[str]:
    """Returns `cluster.worker` for a Swarm job: `GROUP-w0:PORT`, `GROUP-w1:PORT`, ..."""
    return [f"{swarm_host(group, i)}:{port}" for i in range(workers)]


def k8s_cluster(group: str, workers: int, port: int = DEFAULT_PORT) -> list[str]:
    """Returns `cluster.worker` for a Kubernetes Indexed Job with a headless Service `group`.

    Each pod's hostname is `GROUP-INDEX` and its subdomain the Service, so
    `GROUP-INDEX.GROUP` resolves in the pod's namespace.
    """
    return [f"{group}-{i}.{group}:{port}" for i in range(workers)]


def tf_config(cluster: Sequence[str], index: int) -> str:
    """Returns the `TF_CONFIG` JSON for worker `index` of `cluster`. Raises UsageError."""
    if not 0 <= index < len(cluster):
        raise UsageError(f"worker index {index} is outside a cluster of {len(cluster)}")
    return json.dumps(
        {"cluster": {"worker": list(cluster)}, "task": {"type": "worker", "index": index}},
        separators=(",", ":"),
    )


def index_script(cluster: Sequence[str]) -> str:
    """Returns the sh script that exports `TF_CONFIG` from `JOB_COMPLETION_INDEX`, then runs
    its arguments (`sh -c SCRIPT tfstudio-worker CMD...`).

    The cluster is fixed when the manifest is written; only the index comes
    from the pod. The JSON it builds is byte for byte `tf_config(cluster, i)`.
    A missing or non-numeric index, or one outside the cluster, ends the pod
    with exit code 64 and a line on stderr.
    """
    workers = json.dumps(list(cluster), separators=(",", ":"))
    prefix = '{"cluster":{"worker":' + workers + '},"task":{"type":"worker","index":'
    lines = [
        'i="${JOB_COMPLETION_INDEX:-}"',
        'case "$i" in',
        "  ''|*[!0-9]*|0?*) echo \"tfstudio: JOB_COMPLETION_INDEX is '$i', not an index\" >&2;"
        " exit 64 ;;",
        "esac",
        f'if [ "$i" -ge {len(cluster)} ]; then',
        f'  echo "tfstudio: index $i is outside the cluster of {len(cluster)} workers" >&2;'
        " exit 64",
        "fi",
        f"TF_CONFIG={shlex.quote(prefix)}\"$i\"'}}}}'",
        "export TF_CONFIG",
        'exec "$@"',
    ]
    return "\n".join(lines) + "\n"
