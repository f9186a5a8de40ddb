"""Starting a multi-worker job on a swarm: checks → image → network → one service per worker.

What a swarm would only say later (a task pending forever, a worker on the
wrong node) is refused before anything is made, with the fix: the engine must
be a swarm manager; a bind-mounted workspace on a swarm of several nodes
must be said to be shared; GPUs go through the nodes' generic resources, so
a count is needed and some node must have that many. Every worker runs the
same image, pinned by digest (a registry digest, else the image ID, which
the swarm then never tries to pull), with its own `TF_CONFIG`, the job's
limits and GPUs, on the job's own overlay network. If any step fails, what
was made is removed again.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from tfstudio.operations import SILENT, CancelToken, Reporter, Stage, check_cancelled
from tfstudio.training import labels as L
from tfstudio.training.client import EngineClient
from tfstudio.training.errors import GpuRequestError, WorkspaceError
from tfstudio.training.groupprov import at_launch_group
from tfstudio.training.groupspec import BIND, SHM, GroupSpec
from tfstudio.training.images import REPO_DIGEST, ResolvedImage, resolve_image
from tfstudio.training.jobs import JobInfo
from tfstudio.training.jobspec import WORKDIR
from tfstudio.training.launch import LaunchResult
from tfstudio.training.limits import GpuRequest
from tfstudio.training.swarm import (
    SwarmState,
    create_network,
    create_service,
    remove_network,
    remove_service,
    require_manager,
)
from tfstudio.training.tagpolicy import override_note
from tfstudio.training.tfconfig import swarm_cluster, swarm_host, tf_config
from tfstudio.training.workers import WORKER, WORKERS, WorkerInfo

GPU_SETUP = (
    "on each GPU node: list its GPUs in /etc/docker/daemon.json as "
    '"node-generic-resources": ["NVIDIA-GPU=GPU-<uuid>", ...], make nvidia the default '
    'runtime, set swarm-resource = "DOCKER_RESOURCE_GPU" in '
    "/etc/nvidia-container-runtime/config.toml, restart dockerd; or run with --gpus none"
)
"""How a swarm node offers GPUs to services (Docker's generic resources)."""


def launch_group(
    client: EngineClient,
    spec: GroupSpec,
    *,
    report: Reporter = SILENT,
    cancel: CancelToken | None = None,
) -> LaunchResult:
    """Creates the job's network and one service per worker, and records its provenance.

    Raises SwarmError (not a manager, a refused service), WorkspaceError (a
    bind mount across nodes not said to be shared), GpuRequestError,
    ImageError, EngineError, CancelledError.
    """
    job_spec = spec.job
    engine = client.engine
    report.stage(Stage.CHECK, f"checking the swarm of engine {engine.name}")
    swarm = require_manager(client)
    check_storage(engine.name, spec, swarm)
    gpus = gpu_reservation(engine.name, job_spec.gpus, swarm)
    notes = [f"workspace: {spec.storage.describe()}"]
    if swarm.ready > 1:
        notes.append(f"the swarm has {swarm.ready} ready nodes: each worker runs where it puts it")
    override = override_note(job_spec.image)
    if override:
        notes.append(f"tag policy overridden: {override}")
    check_cancelled(cancel, "launch")
    image = resolve_image(client, job_spec.image, pull=job_spec.pull, report=report, cancel=cancel)
    check_cancelled(cancel, "launch")
    job_id = L.new_job_id()
    name = job_spec.name or f"tfstudio-{job_id}"
    labels = _labels(client, spec, image, job_id, name, override)
    report.stage(Stage.CREATE, f"creating job {job_id}: network and {spec.workers} workers")
    made: list[str] = []
    network = ""
    launched_ns = time.time_ns()
    try:
        network = create_network(client, name, labels)
        cluster = swarm_cluster(name, spec.workers, spec.port)
        for index in range(spec.workers):
            check_cancelled(cancel, "launch")
            service = swarm_host(name, index)
            made.append(
                create_service(
                    client,
                    service,
                    worker_spec(spec, image, labels, network, cluster, index, gpus),
                )
            )
    except BaseException:
        for service_id in made:
            with contextlib.suppress(Exception):
                remove_service(client, service_id)
        if network:
            with contextlib.suppress(Exception):
                remove_network(client, network)
        raise
    report.stage(Stage.START, f"job {job_id}: {spec.workers} workers scheduled")
    workers = tuple(
        WorkerInfo(index=i, service=swarm_host(name, i), service_id=sid, state="pending")
        for i, sid in enumerate(made)
    )
    job = JobInfo(
        job_id=job_id,
        name=name,
        container_id="",
        engine=engine.name,
        image_ref=job_spec.image.text,
        image_id=image.id,
        state="starting",
        exit_code=None,
        started_ns=launched_ns,
        finished_ns=None,
        oom_killed=False,
        created_ns=launched_ns,
        gpus=job_spec.gpus.describe(),
        workspace=job_spec.workspace,
        command=job_spec.command,
        tag_override=override,
        workers=workers,
    )
    image_json = image.to_json() | {
        "tag_policy": job_spec.image.pinning.value,
        "override": override,
        "service_image": service_image(image),
    }
    record = at_launch_group(client, spec, job, image_json, launched_ns, swarm, name)
    report.stage(Stage.RUNNING, f"job {job_id} started")
    return LaunchResult(job, image, record, tuple(notes))


def service_image(image: ResolvedImage) -> str:
    """Returns the reference every worker runs: the registry digest, else the image ID.

    The swarm never pulls an image named by ID, and pulls one named by digest
    only where a node lacks it; either way every worker runs the same bytes.
    """
    if image.digest_kind == REPO_DIGEST:
        return image.digest
    return image.id


def check_storage(engine: str, spec: GroupSpec, swarm: SwarmState) -> None:
    """Refuses bind mounts on a swarm of several nodes unless they are said to be shared.

    Raises WorkspaceError.
    """
    if swarm.ready <= 1 or spec.storage.shared:
        return
    paths = [spec.storage.source] if spec.storage.kind == BIND else []
    paths += [m.source for m in spec.job.mounts]
    if not paths:
        return
    raise WorkspaceError(
        f"engine {engine}'s swarm has {swarm.ready} ready nodes: a bind mount of "
        f"{', '.join(paths)} reads whatever each worker's node has at that path",
        hint="pass --shared-workspace when the path holds the same files on every node "
        "(an NFS mount, say), or use a volume: --volume NAME",
    )


def gpu_reservation(engine: str, gpus: GpuRequest, swarm: SwarmState) -> dict[str, int]:
    """Returns the generic resources each worker reserves for `gpus` ({} for none).

    Raises GpuRequestError: `all` or device ids (the swarm picks a node's
    GPUs itself), no node advertising GPUs, no node with that many.
    """
    if not gpus.wanted:
        return {}
    if gpus.count < 1:
        raise GpuRequestError(
            f"--gpus {gpus.describe()}: a swarm assigns GPUs by count, per worker",
            hint="give how many each worker needs, e.g. --gpus 1",
        )
    kind = swarm.gpu_kind()
    if kind is None:
        raise GpuRequestError(
            f"engine {engine}'s swarm offers no GPUs (--gpus {gpus.describe()} per worker): "
            "no ready node advertises a GPU generic resource",
            hint=GPU_SETUP,
        )
    most = swarm.most_gpus(kind)
    if most < gpus.count:
        raise GpuRequestError(
            f"--gpus {gpus.count} per worker: no ready node of engine {engine}'s swarm has "
            f"that many {kind} (at most {most})",
            hint=f"ask for at most {most} per worker, and more workers instead",
        )
    return {kind: gpus.count}


def _labels(
    client: EngineClient,
    spec: GroupSpec,
    image: ResolvedImage,
    job_id: str,
    name: str,
    override: str | None,
) -> dict[str, str]:
    labels = {
        L.JOB: job_id,
        L.STUDIO: L.studio_id(),
        L.KIND: L.GROUP,
        L.NAME: name,
        L.IMAGE_REF: spec.job.image.text,
        L.IMAGE_ID: image.id,
        L.ENGINE: client.engine.name,
        L.WORKSPACE: spec.job.workspace,
        L.GPUS: spec.job.gpus.describe(),
        L.STORAGE: spec.storage.kind,
        L.NETWORK: name,
        WORKERS: str(spec.workers),
    }
    if override:
        labels[L.OVERRIDE] = override
    return labels


def worker_spec(
    spec: GroupSpec,
    image: ResolvedImage,
    labels: dict[str, str],
    network: str,
    cluster: list[str],
    index: int,
    gpus: dict[str, int],
) -> dict[str, Any]:
    """Returns the keywords of `create_service` for worker `index`: one replica, no restart,
    DNS round-robin, `TF_CONFIG`, the job's mounts, limits and GPU reservation."""
    from docker.types import (
        ContainerSpec,
        EndpointSpec,
        Mount,
        Resources,
        RestartPolicy,
        ServiceMode,
        TaskTemplate,
    )

    job = spec.job
    storage = spec.storage
    mounts = [Mount(WORKDIR, storage.source, type=storage.kind)]
    mounts += [Mount(m.target, m.source, type="bind", read_only=m.read_only) for m in job.mounts]
    if job.limits.shm_size is not None:
        # A service has no --shm-size: a tmpfs of that size at /dev/shm is the same thing.
        mounts.append(Mount(SHM, None, type="tmpfs", tmpfs_size=job.limits.shm_size))
    env = {**dict(job.env), "TF_CONFIG": tf_config(cluster, index)}
    container = ContainerSpec(
        service_image(image),
        args=list(job.command),
        env=env,
        workdir=WORKDIR,
        labels={
            L.JOB: labels[L.JOB],
            L.STUDIO: labels[L.STUDIO],
            L.KIND: L.WORKER,
            WORKER: str(index),
        },
        mounts=mounts,
        stop_grace_period=int(job.stop_timeout_s * 1e9),
        init=job.init,
    )
    resources = Resources(
        cpu_limit=int(job.limits.cpus * 1e9) if job.limits.cpus is not None else None,
        mem_limit=job.limits.memory,
        generic_resources=gpus or None,
    )
    template = TaskTemplate(
        container,
        resources=resources,
        restart_policy=RestartPolicy(condition="none"),
        networks=[network],
    )
    return {
        "task_template": template,
        "labels": {**labels, WORKER: str(index)},
        "mode": ServiceMode("replicated", replicas=1),
        "endpoint_spec": EndpointSpec(mode="dnsrr"),
    }
