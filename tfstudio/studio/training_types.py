"""The plain values the training facade takes and returns (`tfstudio.studio.training`).

A `TrainRequest` is a new job in the words a user types; `EngineJobs` is one
engine's jobs or its state with the fix; `EngineReport` the checks of several
engines; `JobOutcome` what stop, kill, remove or wait did. Each result has
`to_json()`. No engine is asked here.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Union

from tfstudio.errors import UsageError

if TYPE_CHECKING:
    from tfstudio.training.enginecheck import EngineStatus
    from tfstudio.training.jobs import JobInfo
    from tfstudio.training.provenance import Provenance

_GROUP_FIELDS = ("workers", "volume", "shared_workspace", "worker_port")

JobRef = Union["JobInfo", str]
"""A job as a front end holds it: a JobInfo (a table row) or an id, prefix or name."""


@dataclass(frozen=True)
class TrainRequest:
    """A new job in the words a user types (the CLI's flags, the UI's form fields).

    None means the `[training]` default. `command` is a list of words, or one
    line split as a shell would.
    """

    command: Sequence[str] | str
    image: str | None = None
    engine: str | None = None
    gpus: str | None = None
    workspace: str | None = None
    cpus: str | None = None
    memory: str | None = None
    shm_size: str | None = None
    env: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()
    name: str | None = None
    allow_latest: bool = False
    pull: bool | None = None
    workers: int | None = None
    """A multi-worker job of this many workers (Docker Swarm services, or manifests)."""
    volume: str | None = None
    """A multi-worker job's workspace as a named volume (a Kubernetes claim in manifests)."""
    shared_workspace: bool = False
    """The bind-mounted workspace holds the same files on every swarm node."""
    worker_port: int | None = None

    def spec_words(self) -> dict[str, Any]:
        """Returns the fields `build_spec` takes by keyword (all but command, engine and
        the multi-worker fields)."""
        words = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("command", "engine", *_GROUP_FIELDS):
            del words[key]
        return words

    def group_words(self) -> dict[str, Any]:
        """Returns `spec_words()` plus what `build_group_spec` takes besides them."""
        return self.spec_words() | {
            "workers": self.workers or 0,
            "volume": self.volume,
            "shared_workspace": self.shared_workspace,
            "port": self.worker_port,
        }

    def argv(self) -> list[str]:
        """Returns the command's words. Raises UsageError for an unbalanced quote."""
        if not isinstance(self.command, str):
            return list(self.command)
        try:
            return shlex.split(self.command)
        except ValueError as exc:
            raise UsageError(f"command {self.command!r}: {exc}") from None


@dataclass(frozen=True)
class EngineJobs:
    """One engine's jobs now, or its state and fix when it cannot be asked (never raises)."""

    engine: str
    url: str
    reachable: bool
    jobs: tuple[JobInfo, ...] = ()
    error: str | None = None
    hint: str | None = None
    gpus: str | None = None
    """NVML's view of this machine for a local engine ("no GPU (why)"); None for a remote one."""
    needs_passphrase: str | None = None
    """The key file of an ssh:// engine that is encrypted and has no (right) passphrase yet."""
    passphrase_wrong: bool = False

    @property
    def state(self) -> str:
        """One line: the engine's name and how it is, with the fix when it is down."""
        if self.reachable:
            running = sum(1 for j in self.jobs if j.running)
            return f"engine {self.engine}: {len(self.jobs)} job(s), {running} running"
        fix = f": {self.hint}" if self.hint else ""
        return f"{self.error or f'engine {self.engine} is not reachable'}{fix}"

    def to_json(self) -> dict[str, Any]:
        """Returns the engine's state and its jobs."""
        return {
            "engine": self.engine,
            "url": self.url,
            "reachable": self.reachable,
            "error": self.error,
            "hint": self.hint,
            "gpus": self.gpus,
            "needs_passphrase": self.needs_passphrase,
            "jobs": [j.to_json() for j in self.jobs],
        }


@dataclass(frozen=True)
class EngineReport:
    """The checks of several engines, in the order asked."""

    statuses: tuple[EngineStatus, ...]

    @property
    def ok(self) -> bool:
        """True when every engine answered."""
        return all(s.reachable for s in self.statuses)

    def status(self, name: str) -> EngineStatus:
        """Returns the check of engine `name`. Raises KeyError."""
        for s in self.statuses:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_json(self) -> list[dict[str, Any]]:
        """Returns one object per engine."""
        return [s.to_json() for s in self.statuses]


@dataclass(frozen=True)
class JobOutcome:
    """What `stop`, `kill`, `remove` and `wait` did to a job, and its provenance."""

    action: str
    job: JobInfo
    provenance: Provenance | None

    @property
    def message(self) -> str:
        """One line, e.g. 'job 1a2b3c4d5e6f (tfstudio-1a2b...): stopped (SIGTERM, exit 143)'."""
        how = "removed" if self.action == "remove" else self.job.exit_reason() or self.job.state
        return f"job {self.job.job_id} ({self.job.name}): {how}"

    def to_json(self) -> dict[str, Any]:
        """Returns {action, job, provenance}."""
        record = self.provenance.to_json() if self.provenance is not None else None
        return {"action": self.action, "job": self.job.to_json(), "provenance": record}


@dataclass(frozen=True)
class Lineage:
    """The jobs that exported a model (`Training.which`): its content hash and, newest
    first, each job's record with the export that has that hash."""

    sha256: str
    found: tuple[tuple[Provenance, dict[str, Any]], ...]

    def to_json(self) -> dict[str, Any]:
        """Returns {sha256, jobs: [{job, image, export}]}."""
        return {
            "sha256": self.sha256,
            "jobs": [{"job": r.job_id, "image": r.image, "export": e} for r, e in self.found],
        }
