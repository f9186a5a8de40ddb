"""A multi-worker job's provenance: the same record as one container's, plus the group.

Written at launch (engine, image reference and digest, the reference every
worker runs, command, the request with workers, port and storage) and
finalised once every worker has ended: the group's state and exit code,
which worker failed and why, each worker's node, state and exit code, the
limits and GPU reservation the swarm applied, and the chief's (worker 0's)
new models under `workspace/exports/` with convert's hash. Its `chain` steps
are the ones a one-container job writes, so `jobs which` and `watch` find
the chief's exports as they find any job's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tfstudio.atomic import file_lock
from tfstudio.training.client import EngineClient
from tfstudio.training.exports import EXPORTS, ExportedModel, fetch_remote, scan_local
from tfstudio.training.groupspec import BIND, SHM, GroupSpec
from tfstudio.training.jobs import JobInfo
from tfstudio.training.provenance import (
    Provenance,
    at_launch,
    from_labels,
    job_dir,
    load,
    save,
    train_step,
)
from tfstudio.training.swarm import SwarmState, swarm_state
from tfstudio.training.timefmt import iso


def at_launch_group(
    client: EngineClient,
    spec: GroupSpec,
    job: JobInfo,
    image: dict[str, Any],
    launched_ns: int,
    swarm: SwarmState,
    network: str,
) -> Provenance:
    """Returns (and stores) the record of a multi-worker job that has just been created."""
    record = at_launch(client, spec.job, job, image, launched_ns)
    record = replace(
        record,
        request=spec.to_json(),
        workspace={
            "path": spec.job.workspace,
            "on": spec.storage.describe(),
            "storage": spec.storage.kind,
            "mounted_at": "/workspace",
        },
        group={
            "workers": spec.workers,
            "worker_port": spec.port,
            "storage": spec.storage.to_json(),
            "network": network,
            "services": [w.service for w in job.workers],
            "swarm": {"node": swarm.node_id, "nodes": swarm.nodes, "ready": swarm.ready},
            "failure": None,
        },
        workers=[w.to_json() for w in job.workers],
    )
    save(record)
    return record


def finalize_group(client: EngineClient, job: JobInfo) -> Provenance:
    """Returns the group's record, completed once every worker has ended: state, exit code,
    failure, workers, applied limits and the chief's exports. Idempotent.

    Raises EngineError, OutputError, ConfigError.
    """
    current = load(job.job_id)
    if current is not None and current.final:
        return current
    if job.running:
        return current or _from_labels(job, client)
    with file_lock(job_dir(job.job_id).with_suffix(".lock")):
        current = load(job.job_id) or _from_labels(job, client)
        if current.final:
            return current
        models, note = _chief_exports(client, job, current)
        finished = iso(job.finished_ns)
        record = replace(
            current,
            started_at=iso(job.started_ns),
            started_ns=job.started_ns,
            host_config=_applied(client, job),
            finished_at=finished,
            exit_code=job.exit_code,
            state=job.state,
            exports=[m.to_json() for m in models],
            chain=[train_step(current, job, m, finished) for m in models if m.sha256],
            workers=[w.to_json() for w in job.workers],
            group=current.group | {"failure": job.failure, "exports_note": note},
            final=True,
        )
        save(record)
    return record


def _from_labels(job: JobInfo, client: EngineClient) -> Provenance:
    record = from_labels(job, client)
    return replace(
        record,
        container_id="",
        group={"workers": len(job.workers), "services": [w.service for w in job.workers]},
        workers=[w.to_json() for w in job.workers],
    )


def _chief_exports(
    client: EngineClient, job: JobInfo, record: Provenance
) -> tuple[list[ExportedModel], str | None]:
    """Returns worker 0's new models, or none with the reason they could not be read."""
    since_ns = job.created_ns or 0
    storage = (record.group.get("storage") or {}).get("kind", BIND)
    if storage == BIND and not client.engine.remote:
        path = Path(str(record.workspace.get("path") or job.workspace))
        if path.is_dir():
            return scan_local(path, since_ns), None
    chief = job.workers[0]
    if chief.container_id and chief.node_id == swarm_state(client).node_id:
        # Through the engine, from the chief's container (it ran on the engine's own node).
        dest = job_dir(job.job_id) / EXPORTS
        return fetch_remote(client, chief.container_id, since_ns, dest), None
    where = chief.node or chief.node_id or "no node"
    return [], (
        f"worker 0 ran on node {where}, not on engine {client.engine.name}'s own node: its "
        "exports are in that node's workspace (register that node as an engine to read them)"
    )


def _applied(client: EngineClient, job: JobInfo) -> dict[str, Any]:
    """Returns the limits and GPU reservation the swarm applied (worker 0's service)."""
    try:
        with client.call(f"inspecting job {job.job_id}"):
            spec = client.api.inspect_service(job.workers[0].service_id)["Spec"]
    except Exception:  # noqa: BLE001 - the record is still final without them
        return {}
    template = spec.get("TaskTemplate") or {}
    resources = template.get("Resources") or {}
    limits = resources.get("Limits") or {}
    container = template.get("ContainerSpec") or {}
    shm = next(
        (
            (m.get("TmpfsOptions") or {}).get("SizeBytes") or 0
            for m in container.get("Mounts") or []
            if m.get("Target") == SHM
        ),
        0,
    )
    return {
        "NanoCpus": limits.get("NanoCPUs") or 0,
        "Memory": limits.get("MemoryBytes") or 0,
        "ShmSize": shm,
        "Init": bool(container.get("Init")),
        "GenericResources": (resources.get("Reservations") or {}).get("GenericResources") or [],
        "Image": container.get("Image"),
    }
