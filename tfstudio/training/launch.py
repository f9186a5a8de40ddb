"""Starting a job: image → container with labels, mounts, limits and GPUs → start → provenance.

`launch` never leaves a half-made job behind: a container that was created
but could not start (no NVIDIA runtime for `--gpus`, a missing workspace on a
remote host) is removed again, and the engine's refusal becomes one line with
the fix.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from tfstudio.errors import TfStudioError
from tfstudio.operations import SILENT, CancelToken, Reporter, Stage, check_cancelled
from tfstudio.training import labels as L
from tfstudio.training.client import EngineClient, docker_sdk
from tfstudio.training.engines import Engine
from tfstudio.training.errors import EngineError, GpuRequestError, JobError, WorkspaceError
from tfstudio.training.images import ResolvedImage, resolve_image
from tfstudio.training.jobs import JobInfo
from tfstudio.training.jobspec import WORKDIR, JobSpec
from tfstudio.training.limits import GpuRequest
from tfstudio.training.logs import close_stream
from tfstudio.training.provenance import Provenance, at_launch
from tfstudio.training.tagpolicy import override_note

_GPU_REFUSALS = ("could not select device driver", "nvidia-container-cli", "nvidia")
"""Words of the engine's answer when it cannot hand GPUs to a container."""


@dataclass(frozen=True)
class LaunchResult:
    """A started job: the job, its image as resolved, its provenance record, notes to show.

    `output` is the job's output stream when `launch(attach=True)` opened one
    before the start, else None. Read it (`LogFollower(stream=...)`) or close
    it (`logs.close_stream`): an attached reader that stalls can stall the job.
    """

    job: JobInfo
    image: ResolvedImage
    provenance: Provenance
    notes: tuple[str, ...]
    output: Any = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Returns {job, image, provenance_path, notes}."""
        return {
            "job": self.job.to_json(),
            "image": self.image.to_json(),
            "provenance": str(self.provenance.path),
            "notes": list(self.notes),
        }


def launch(
    client: EngineClient,
    spec: JobSpec,
    *,
    report: Reporter = SILENT,
    cancel: CancelToken | None = None,
    attach: bool = False,
) -> LaunchResult:
    """Creates and starts the job `spec` describes, and records its provenance.

    With `attach`, the job's output stream is opened before the start (as
    `docker run` does), so the first line is not lost nor delayed: a `logs`
    request right after the start of a short command waits for the engine
    to finish handling its exit.

    Raises ImageError (missing, cannot pull), GpuRequestError (no NVIDIA
    runtime), WorkspaceError (no such directory on the engine host), JobError
    (name taken), EngineError, CancelledError.
    """
    notes = []
    if spec.workspace_remote:
        notes.append(
            f"workspace {spec.workspace} is a path on {client.engine.host_label()} "
            f"(engine {client.engine.name}), not on this machine"
        )
    override = override_note(spec.image)
    if override:
        notes.append(f"tag policy overridden: {override}")
    check_cancelled(cancel, "launch")
    image = resolve_image(client, spec.image, pull=spec.pull, report=report, cancel=cancel)
    check_cancelled(cancel, "launch")
    job_id = L.new_job_id()
    name = spec.name or f"tfstudio-{job_id}"
    report.stage(Stage.CREATE, f"creating job {job_id} ({name})")
    container_id = _create(client, spec, image, job_id, name, override)
    launched_ns = time.time_ns()
    output = None
    try:
        check_cancelled(cancel, "launch")
        if attach:
            with client.call(f"attaching to job {job_id}"):
                output = client.api.attach(container_id, stream=True, logs=True)
        report.stage(Stage.START, f"starting job {job_id}")
        _start(client, spec, container_id)
    except BaseException:
        if output is not None:
            close_stream(output)
        with contextlib.suppress(Exception):
            client.api.remove_container(container_id, force=True)
        raise
    # No inspect here: right after start it waits for the engine to settle a
    # command that exits at once (0.1-0.2 s). The engine's start time, exit
    # and applied HostConfig are read when the job is finalised.
    job = JobInfo(
        job_id=job_id,
        name=name,
        container_id=container_id,
        engine=client.engine.name,
        image_ref=spec.image.text,
        image_id=image.id,
        state="running",
        exit_code=None,
        started_ns=None,
        finished_ns=None,
        oom_killed=False,
        created_ns=None,
        gpus=spec.gpus.describe(),
        workspace=spec.workspace,
        command=spec.command,
        tag_override=override,
    )
    image_json = image.to_json() | {"tag_policy": spec.image.pinning.value, "override": override}
    record = at_launch(client, spec, job, image_json, launched_ns)
    report.stage(Stage.RUNNING, f"job {job_id} started")
    return LaunchResult(job, image, record, tuple(notes), output)


def _create(
    client: EngineClient,
    spec: JobSpec,
    image: ResolvedImage,
    job_id: str,
    name: str,
    override: str | None,
) -> str:
    docker = docker_sdk()
    from docker.types import Mount

    mounts = [Mount(WORKDIR, spec.workspace, type="bind")]
    mounts += [Mount(m.target, m.source, type="bind", read_only=m.read_only) for m in spec.mounts]
    labels = {
        L.JOB: job_id,
        L.STUDIO: L.studio_id(),
        L.KIND: "job",
        L.NAME: name,
        L.IMAGE_REF: spec.image.text,
        L.ENGINE: client.engine.name,
        L.WORKSPACE: spec.workspace,
        L.GPUS: spec.gpus.describe(),
    }
    if override:
        labels[L.OVERRIDE] = override
    ports = dict(spec.publish)
    try:
        with client.call(f"creating job {job_id}"):
            host_config = client.api.create_host_config(
                mounts=mounts,
                device_requests=spec.gpus.device_requests() or None,
                init=spec.init,
                port_bindings=ports or None,
                **spec.limits.host_config(),
            )
            created = client.api.create_container(
                # The id, not the tag: the job runs exactly the image that was resolved.
                image=image.id,
                command=list(spec.command),
                working_dir=WORKDIR,
                environment=dict(spec.env),
                labels=labels,
                name=name,
                host_config=host_config,
                ports=[tuple(p.split("/")) for p in ports] or None,
                stop_timeout=int(spec.stop_timeout_s),
            )
    except EngineError as exc:
        raise _refusal(client, spec, exc, name) from exc
    except docker.errors.NotFound as exc:
        raise EngineError(
            f"engine {client.engine.name}: image {spec.image.text} vanished before the job "
            f"was created: {exc.explanation or exc}"
        ) from exc
    return str(created["Id"])


def _start(client: EngineClient, spec: JobSpec, container_id: str) -> None:
    try:
        with client.call("starting the job"):
            client.api.start(container_id)
    except EngineError as exc:
        raise _refusal(client, spec, exc, container_id[:12]) from exc


def _refusal(client: EngineClient, spec: JobSpec, exc: TfStudioError, name: str) -> TfStudioError:
    """Returns the one-line error for an engine that refused to create or start the job."""
    text = exc.message
    lowered = text.lower()
    engine = client.engine
    gpu = gpu_refusal(engine, spec.gpus, exc)
    if gpu is not None:
        return gpu
    if "bind source path does not exist" in lowered or "no such file or directory" in lowered:
        where = engine.host_label()
        sources = [m.source for m in spec.mounts if m.source in text]
        if sources and spec.workspace not in text:
            return WorkspaceError(
                f"--mount source {sources[0]} does not exist on {where}, "
                f"where engine {engine.name} runs",
                hint=f"create it on {where}, or fix the --mount source",
            )
        extra = " (a remote engine's workspace is a path on that host)" if engine.remote else ""
        return WorkspaceError(
            f"{spec.workspace} does not exist on {where}, where engine {engine.name} runs{extra}",
            hint=f"create it on {where}, or pass --workspace with a directory that exists there",
        )
    if "conflict" in lowered and "already in use" in lowered:
        return JobError(
            f"a container named {name} already exists on engine {engine.name}",
            hint="pick another --name",
        )
    return exc


def gpu_refusal(engine: Engine, gpus: GpuRequest, exc: TfStudioError) -> GpuRequestError | None:
    """Returns the "no NVIDIA runtime" error when `exc` is the engine refusing GPUs, else None."""
    lowered = exc.message.lower()
    if not gpus.wanted or not any(word in lowered for word in _GPU_REFUSALS):
        return None
    return GpuRequestError(
        f"engine {engine.name} cannot give the container GPUs (--gpus {gpus.describe()}): "
        "it has no NVIDIA runtime",
        hint="install the NVIDIA Container Toolkit on the engine host and restart dockerd, "
        "or run on the CPU with --gpus none",
    )
