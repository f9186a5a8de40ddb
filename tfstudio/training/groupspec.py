"""What a multi-worker job is asked to be (`GroupSpec`): one job's spec, N workers, storage.

A multi-worker job is a `JobSpec` (image under the tag policy, command,
limits and GPUs per worker, env, extra mounts, name) plus how many workers,
the port their gRPC servers use, and where the workspace lives. Workers may
run on several machines, so the storage is said out loud:

- a **bind mount** of a path on the node that runs each worker: on a one-node
  swarm that is the engine's host; across nodes the path must exist on every
  node (an NFS mount, say), which the user states with `shared`;
- a **named volume**: Docker's volume of that name on each worker's node
  (shared only when its driver shares it, e.g. the local driver's NFS type).

`build_group_spec` asks no engine; `grouplaunch` checks what needs the
swarm (its nodes, their GPUs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from tfstudio.errors import UsageError
from tfstudio.training.engines import Engine
from tfstudio.training.jobspec import JobSpec, build_spec
from tfstudio.training.settings import TrainingSettings
from tfstudio.training.tfconfig import DEFAULT_PORT, check_group_name, check_port, check_workers

BIND = "bind"
VOLUME = "volume"
SHM = "/dev/shm"  # noqa: S108 - the container's shared memory, not a temporary file
"""Where a worker's shared memory is mounted (a service has no --shm-size)."""
_VOLUME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class Storage:
    """Where every worker's /workspace comes from."""

    kind: str
    """`bind` (a path on each worker's node) or `volume` (a named volume)."""
    source: str
    shared: bool = False
    """The user says the bind paths (a bind workspace, `--mount`s) hold the same files on
    every node."""

    def describe(self) -> str:
        """Returns the storage in words, e.g. `volume ml-data (each node's own ...)`."""
        if self.kind == VOLUME:
            return (
                f"volume {self.source} (each node's volume of that name: shared across "
                "nodes only when its driver shares it)"
            )
        if self.shared:
            return f"bind {self.source} (said to be the same on every node)"
        return f"bind {self.source} (a path on the node that runs each worker)"

    def to_json(self) -> dict[str, Any]:
        """Returns {kind, source, shared}."""
        return {"kind": self.kind, "source": self.source, "shared": self.shared}


@dataclass(frozen=True)
class GroupSpec:
    """A checked request for a multi-worker job."""

    job: JobSpec
    workers: int
    storage: Storage
    port: int = DEFAULT_PORT

    def to_json(self) -> dict[str, Any]:
        """Returns the job's request plus workers, port and storage."""
        return self.job.to_json() | {
            "workers": self.workers,
            "worker_port": self.port,
            "storage": self.storage.to_json(),
        }


def build_group_spec(
    engine: Engine | None,
    settings: TrainingSettings,
    command: Sequence[str],
    *,
    workers: int,
    volume: str | None = None,
    shared_workspace: bool = False,
    port: int | None = None,
    least: int = 2,
    **words: Any,
) -> GroupSpec:
    """Returns the GroupSpec for a command line, `[training]` defaults and `build_spec`'s words.

    `engine` None builds manifests for another scheduler (Kubernetes): the
    workspace is then a path on its nodes, never checked here. Raises
    UsageError (bad count, name, volume, port, --publish), TagPolicyError,
    WorkspaceError.
    """
    check_workers(workers, least=least)
    if words.get("name") is not None:
        check_group_name(str(words["name"]))
    if words.get("publish"):
        raise UsageError(
            "--publish is for one-container jobs: each of the workers would ask for the port",
            hint="leave --publish out of a multi-worker job",
        )
    if volume is not None and not _VOLUME.match(volume):
        raise UsageError(f"--volume {volume!r} is not a volume name")
    if volume is not None and words.get("workspace"):
        raise UsageError("give --workspace (a bind mount) or --volume, not both")
    given = words.get("workspace") or None
    if volume is not None:
        # The volume is the workspace: no path of this machine or the engine's is involved.
        spec = build_spec(engine or _nowhere(), settings, command, **{**words, "workspace": "/"})
        spec = replace(spec, workspace=volume, workspace_remote=True)
    elif engine is None:
        path = given or settings.workspace
        if not path or not str(path).startswith("/"):
            raise UsageError(
                "manifests need the workspace as a path on the cluster's nodes, or a volume",
                hint="pass --workspace /path/on/every/node (a hostPath) or --volume CLAIM "
                "(a PersistentVolumeClaim)",
            )
        spec = build_spec(_nowhere(), settings, command, **{**words, "workspace": path})
    else:
        spec = build_spec(engine, settings, command, **words)
    storage = (
        Storage(VOLUME, volume, shared_workspace)
        if volume is not None
        else Storage(BIND, spec.workspace, shared_workspace)
    )
    return GroupSpec(spec, workers, storage, check_port(port or DEFAULT_PORT))


def _nowhere() -> Engine:
    # A remote-looking engine: build_spec then takes the workspace as a path
    # elsewhere and checks only that it is absolute.
    return Engine(name="manifests", url="ssh://manifests", origin="builtin")
