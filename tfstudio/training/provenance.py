"""Each job's provenance: `TFSTUDIO_HOME/jobs/<id>/provenance.json`.

Written when the job starts (engine, image reference and digest, command,
limits, workspace, tag-policy override) and finalised once the job has ended
(end time, exit code, and every new model under `workspace/exports/` with
convert's content hash). Finalising is idempotent and safe from several
processes at once (a lock per job), and it happens whenever any command sees
the job ended, so a detached job is finalised by the next `jobs`, `logs -f`,
`stop`, `rm` or `jobs show`.

`chain` holds one `train` step per exported model, shaped like the steps of
the convert manifest: its `output_sha256` is the convert manifest's
`source.sha256`, which joins image digest → SavedModel → TFLite variant →
device. `find_exports(sha256)` walks that join backwards.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tfstudio import __version__
from tfstudio.atomic import file_lock, write_text_atomic
from tfstudio.config import studio_home
from tfstudio.errors import ConfigError
from tfstudio.models.lineage import JOBS_DIR, RECORD, record_files
from tfstudio.training import labels as L
from tfstudio.training.client import EngineClient
from tfstudio.training.exports import EXPORTS, ExportedModel, fetch_remote, scan_local
from tfstudio.training.jobs import JobInfo
from tfstudio.training.jobspec import JobSpec
from tfstudio.training.timefmt import iso

FORMAT = "tfstudio.job/1"


@dataclass(frozen=True)
class Provenance:
    """Where a job ran, on what, doing what, and what it produced."""

    job_id: str
    name: str
    container_id: str
    engine: dict[str, Any]
    image: dict[str, Any]
    command: list[str]
    workspace: dict[str, Any]
    request: dict[str, Any]
    """The JobSpec as asked: limits, GPUs, env keys (not values), ports, mounts."""
    launched_at: str | None
    """When tfstudio asked the engine to start it (this machine's clock)."""
    started_at: str | None = None
    """When the engine started it (the engine's clock); set when finalised."""
    started_ns: int | None = None
    host_config: dict[str, Any] = field(default_factory=dict)
    """The limits as the engine applied them (the container's HostConfig); set when finalised."""
    finished_at: str | None = None
    exit_code: int | None = None
    state: str = "running"
    oom_killed: bool = False
    exports: list[dict[str, Any]] = field(default_factory=list)
    chain: list[dict[str, Any]] = field(default_factory=list)
    final: bool = False
    rebuilt_from_labels: bool = False
    format: str = FORMAT
    tool: str = f"tfstudio {__version__}"
    group: dict[str, Any] = field(default_factory=dict)
    """A multi-worker job: workers, port, storage, network, swarm, and why it failed."""
    workers: list[dict[str, Any]] = field(default_factory=list)
    """A multi-worker job's workers: service, node, state, exit code (set when finalised)."""

    @property
    def path(self) -> Path:
        """Where this record is stored."""
        return record_path(self.job_id)

    def to_json(self) -> dict[str, Any]:
        """Returns the record as stored (a one-container job's without the group fields)."""
        out = asdict(self)
        if not self.group:
            del out["group"], out["workers"]
        return out


def job_dir(job_id: str) -> Path:
    """Returns TFSTUDIO_HOME/jobs/<id>. Raises ConfigError for a malformed id."""
    if not L.is_job_id(job_id):
        raise ConfigError(f"{job_id!r} is not a job id")
    return studio_home() / JOBS_DIR / job_id


def record_path(job_id: str) -> Path:
    """Returns the path of a job's provenance.json."""
    return job_dir(job_id) / RECORD


def load(job_id: str) -> Provenance | None:
    """Returns the stored record of `job_id`, or None. Raises ConfigError when unreadable."""
    path = record_path(job_id)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Provenance(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"job provenance {path} is unreadable: {exc}") from exc


def save(record: Provenance) -> Path:
    """Writes `record` atomically and returns its path. Raises OutputError."""
    path = record.path
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(record.to_json(), indent=2) + "\n")
    return path


def at_launch(
    client: EngineClient,
    spec: JobSpec,
    job: JobInfo,
    image: dict[str, Any],
    launched_ns: int,
) -> Provenance:
    """Returns (and stores) the record of a job that has just been started."""
    engine = client.engine
    record = Provenance(
        job_id=job.job_id,
        name=job.name,
        container_id=job.container_id,
        engine={
            "name": engine.name,
            "url": engine.url,
            "server_version": client.server_version,
            "api_version": client.api_version,
            "remote": engine.remote,
        },
        image=image,
        command=list(spec.command),
        workspace={
            "path": spec.workspace,
            "on": f"engine host {engine.host_label()}" if engine.remote else "this machine",
            "mounted_at": "/workspace",
        },
        request=spec.to_json(),
        launched_at=iso(launched_ns),
        state=job.state,
    )
    save(record)
    return record


def from_labels(job: JobInfo, client: EngineClient) -> Provenance:
    """Returns a record rebuilt from a job's labels (its provenance file was lost)."""
    return Provenance(
        job_id=job.job_id,
        name=job.name,
        container_id=job.container_id,
        engine={
            "name": client.engine.name,
            "url": client.engine.url,
            "remote": client.engine.remote,
        },
        image={
            "ref": job.image_ref,
            "id": job.image_id,
            "digest": job.image_id,
            "digest_kind": "image_id",
            "tag_policy_override": job.tag_override,
        },
        command=list(job.command),
        workspace={"path": job.workspace, "mounted_at": "/workspace"},
        request={},
        launched_at=None,
        started_at=iso(job.started_ns),
        started_ns=job.started_ns,
        state=job.state,
        rebuilt_from_labels=True,
    )


def finalize(client: EngineClient, job: JobInfo) -> Provenance:
    """Returns the job's record, completed (exports, end, exit code) if the job has ended.

    Idempotent: a final record is returned as is. Raises EngineError,
    OutputError, ConfigError.
    """
    current = load(job.job_id)
    if current is not None and current.final:
        return current
    if job.running:
        return current or from_labels(job, client)
    with file_lock(job_dir(job.job_id).with_suffix(".lock")):
        current = load(job.job_id) or from_labels(job, client)
        if current.final:
            return current
        with client.call(f"inspecting job {job.job_id}"):
            data = client.api.inspect_container(job.container_id)
        started_ns = job.started_ns or current.started_ns or 0
        # The engine stamps StartedAt only after the process runs, so a fast job
        # can write before it: models count as new from the container's creation.
        since_ns = min(t for t in (job.created_ns, started_ns) if t) if started_ns else 0
        if client.engine.remote:
            dest = job_dir(job.job_id) / EXPORTS
            models = fetch_remote(client, job.container_id, since_ns, dest)
        else:
            models = scan_local(Path(current.workspace["path"]), since_ns)
        finished = iso(job.finished_ns)
        record = replace(
            current,
            started_at=iso(started_ns),
            started_ns=started_ns,
            host_config=applied_limits(data),
            finished_at=finished,
            exit_code=job.exit_code,
            state=job.state,
            oom_killed=job.oom_killed,
            exports=[m.to_json() for m in models],
            chain=[train_step(current, job, m, finished) for m in models if m.sha256],
            final=True,
        )
        save(record)
    return record


def applied_limits(inspect: dict[str, Any]) -> dict[str, Any]:
    """Returns the limits the engine applied, from a container's inspect answer."""
    host = inspect.get("HostConfig") or {}
    return {
        "NanoCpus": host.get("NanoCpus") or 0,
        "Memory": host.get("Memory") or 0,
        "ShmSize": host.get("ShmSize") or 0,
        "Init": bool(host.get("Init")),
        "DeviceRequests": host.get("DeviceRequests") or [],
        "PortBindings": host.get("PortBindings") or {},
    }


def train_step(
    record: Provenance, job: JobInfo, model: ExportedModel, finished: str | None
) -> dict[str, Any]:
    """Returns the chain's `train` step of one exported model, shaped like convert's steps."""
    return {
        "step": "train",
        "at": finished,
        "tool": record.tool,
        "job": record.job_id,
        "engine": record.engine.get("name"),
        "image_ref": record.image.get("ref"),
        "image_digest": record.image.get("digest"),
        "digest_kind": record.image.get("digest_kind"),
        "command": record.command,
        "exit_code": job.exit_code,
        "output_path": model.path,
        "output_sha256": model.sha256,
    }


def list_records() -> list[Provenance]:
    """Returns every stored job record, newest first (unreadable ones are skipped)."""
    records = []
    for path in record_files():
        try:
            found = load(path.parent.name)
        except ConfigError:
            continue
        if found is not None:
            records.append(found)
    return sorted(records, key=lambda r: -(r.started_ns or 0))


def find_exports(sha256: str) -> list[tuple[Provenance, dict[str, Any]]]:
    """Returns (job record, export) pairs whose model has this content hash, newest first."""
    return [(r, e) for r in list_records() for e in r.exports if e.get("sha256") == sha256]
