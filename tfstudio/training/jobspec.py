"""What a job is asked to be (`JobSpec`), built from the CLI's words and `[training]` defaults.

`build_spec` is where defaults meet overrides and where every word is parsed
and checked before any engine is contacted: the tag policy, GPUs, limits,
env, ports, mounts, the container name and the workspace. A workspace on an
engine of this machine must exist here; a remote engine's workspace is a path
on that engine's host (it must be absolute; the engine itself refuses one that
does not exist there, see `launch`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.errors import UsageError
from tfstudio.training.engines import Engine
from tfstudio.training.errors import WorkspaceError
from tfstudio.training.limits import (
    GpuRequest,
    Limits,
    MountSpec,
    parse_cpus,
    parse_env,
    parse_gpus,
    parse_mount,
    parse_publish,
    parse_size,
)
from tfstudio.training.settings import TrainingSettings
from tfstudio.training.tagpolicy import ImageRef, check_ref

WORKDIR = "/workspace"
"""Where the workspace is mounted in the container, and where the command runs."""
_CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class JobSpec:
    """A checked request for one training job."""

    image: ImageRef
    command: tuple[str, ...]
    workspace: str
    """A path on the engine's host (this machine for a unix:// engine)."""
    workspace_remote: bool
    gpus: GpuRequest = GpuRequest()
    limits: Limits = Limits()
    env: tuple[tuple[str, str], ...] = ()
    publish: tuple[tuple[str, tuple[str, int]], ...] = ()
    mounts: tuple[MountSpec, ...] = ()
    name: str | None = None
    allow_latest: bool = False
    init: bool = True
    stop_timeout_s: float = 10.0
    pull: bool = True

    def to_json(self) -> dict[str, Any]:
        """Returns the request; env values are left out (they may be secrets)."""
        return {
            "image": self.image.text,
            "command": list(self.command),
            "workspace": self.workspace,
            "workspace_on": "engine host" if self.workspace_remote else "this machine",
            "gpus": self.gpus.describe(),
            "limits": self.limits.to_json(),
            "env_keys": [k for k, _ in self.env],
            "publish": {k: f"{ip}:{port}" for k, (ip, port) in self.publish},
            "mounts": [m.to_json() for m in self.mounts],
            "name": self.name,
            "allow_latest": self.allow_latest,
            "init": self.init,
            "stop_timeout_s": self.stop_timeout_s,
        }


def build_spec(
    engine: Engine,
    settings: TrainingSettings,
    command: Sequence[str],
    *,
    image: str | None = None,
    workspace: str | None = None,
    gpus: str | None = None,
    cpus: str | float | None = None,
    memory: str | None = None,
    shm_size: str | None = None,
    env: Sequence[str] = (),
    publish: Sequence[str] = (),
    mounts: Sequence[str] = (),
    name: str | None = None,
    allow_latest: bool = False,
    pull: bool | None = None,
) -> JobSpec:
    """Returns the JobSpec for a command line plus `[training]` defaults.

    Raises UsageError (no command, bad words, no image), TagPolicyError and
    WorkspaceError. Nothing here talks to the engine.
    """
    if not command:
        raise UsageError("no command to run", hint="put it after --, e.g. -- python train.py")
    chosen = image or settings.image
    if not chosen:
        raise UsageError(
            "no image given",
            hint='pass --image REPO:TAG or set [training] image = "REPO:TAG" in tfstudio.toml',
        )
    ref = check_ref(chosen, allow_latest=allow_latest)
    if name is not None and not _CONTAINER_NAME.match(name):
        raise UsageError(f"--name {name!r}: use letters, digits, '_', '.' and '-'")
    base = settings.limits
    limits = Limits(
        cpus=parse_cpus(cpus) if cpus is not None else base.cpus,
        memory=parse_size(memory, "--memory") if memory is not None else base.memory,
        shm_size=parse_size(shm_size, "--shm-size") if shm_size is not None else base.shm_size,
    )
    return JobSpec(
        image=ref,
        command=tuple(command),
        workspace=resolve_workspace(engine, workspace or settings.workspace or engine.workspace),
        workspace_remote=engine.remote,
        gpus=parse_gpus(gpus) if gpus is not None else settings.gpus,
        limits=limits,
        env=tuple(parse_env(list(env)).items()),
        publish=tuple(parse_publish(list(publish)).items()),
        mounts=settings.mounts + tuple(parse_mount(m) for m in mounts),
        name=name,
        allow_latest=allow_latest,
        init=settings.init,
        stop_timeout_s=settings.stop_timeout_s,
        pull=settings.pull if pull is None else pull,
    )


def resolve_workspace(engine: Engine, given: str | None) -> str:
    """Returns the workspace path as the engine's host will see it.

    On this machine: the given path (default: the current directory) made
    absolute, which must be an existing directory. On a remote engine: the
    given path, which must be absolute (it is that host's path). Raises
    WorkspaceError.
    """
    if engine.remote:
        if not given:
            raise WorkspaceError(
                f"engine {engine.name} runs on {engine.host_label()}: give --workspace, a "
                "directory on that host (or set a workspace for the engine)",
                hint=f"tfstudio engines add {engine.name} ... --workspace /path/on/host",
            )
        if not given.startswith("/"):
            raise WorkspaceError(
                f"workspace {given!r} must be an absolute path on {engine.host_label()} "
                f"(engine {engine.name} is remote: its workspace is a path on that host)"
            )
        return os.path.normpath(given)
    path = Path(given or os.getcwd()).expanduser().resolve()
    if not path.exists():
        raise WorkspaceError(
            f"workspace {path} does not exist", hint=f"create it first: mkdir -p {path}"
        )
    if not path.is_dir():
        raise WorkspaceError(f"workspace {path} is not a directory")
    return str(path)
