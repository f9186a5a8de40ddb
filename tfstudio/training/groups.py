"""This studio's multi-worker jobs on a swarm: list, find, refresh, stop, kill, remove, wait.

A multi-worker job is found through its services' labels, like a one-container
job through its container's (`tfstudio.labels`), so it is rediscovered after a
restart and another studio's services are never touched. Its `JobInfo` has
`workers` (`tfstudio.training.workers`) and a group state.

Every read of a group keeps MultiWorkerMirroredStrategy's rule: when one
worker has failed, the others are stopped (`enforce`), because a cluster with
a dead peer waits for it forever. So whoever looks at a failing group (an
attached `train`, `logs -f`, `jobs`, `wait`, the UI's Jobs view, the guard a
detached job gets) stops its survivors within one poll.
"""

from __future__ import annotations

import time
from typing import Any

from tfstudio.operations import CancelToken, check_cancelled
from tfstudio.training import labels as L
from tfstudio.training.client import EngineClient, docker_sdk
from tfstudio.training.errors import EngineError, JobError
from tfstudio.training.jobs import JobInfo, list_jobs, match_job
from tfstudio.training.swarm import (
    engine_node,
    node_names,
    park,
    remove_network,
    remove_service,
)
from tfstudio.training.timefmt import parse_ns
from tfstudio.training.workers import WORKER, WorkerInfo, group_state, worker_from

STOP_WAIT_S = 30.0
"""Beyond the grace period, how long `stop` waits for the swarm to report the workers ended."""
CONTAINERS_WAIT_S = 20.0
"""At least this long, once the swarm says the workers ended, `stop` waits for the engine to
list their containers as stopped too (it returns as soon as they are; seconds under a
heavily loaded engine)."""


def list_groups(
    client: EngineClient,
    studio: str | None = None,
    *,
    job_id: str | None = None,
    enforce: bool = True,
) -> list[JobInfo]:
    """Returns this studio's multi-worker jobs on the engine (one job id with `job_id`),
    newest first. An engine that is not a swarm manager has none.

    With `enforce`, a failing group's surviving workers are stopped first.
    Raises EngineError.
    """
    studio = studio or L.studio_id()
    selector = [f"{L.STUDIO}={studio}", f"{L.KIND}={L.GROUP}"]
    if job_id is not None:
        selector.append(f"{L.JOB}={job_id}")
    try:
        with client.call("listing multi-worker jobs"):
            services = client.api.services(filters={"label": selector})
    except EngineError as exc:
        if "not a swarm manager" in exc.message:
            return []
        raise
    services = [s for s in services if L.is_ours((s.get("Spec") or {}).get("Labels"), studio)]
    if not services:
        return []
    groups = _read(client, services)
    if enforce and any(g.state == "failing" for g in groups):
        for group in groups:
            if group.state == "failing":
                stop_survivors(client, group, by="group")
        return list_groups(client, studio, job_id=job_id, enforce=False)
    return groups


def _read(client: EngineClient, services: list[dict[str, Any]]) -> list[JobInfo]:
    with client.call("listing the workers' tasks"):
        tasks = client.api.tasks(filters={"service": [s["ID"] for s in services]})
    nodes = node_names(client) if any(t.get("NodeID") for t in tasks) else {}
    by_job: dict[str, list[dict[str, Any]]] = {}
    for service in services:
        labels = (service.get("Spec") or {}).get("Labels") or {}
        by_job.setdefault(labels.get(L.JOB, ""), []).append(service)
    groups = [_group(client.engine.name, mine, tasks, nodes) for mine in by_job.values()]
    return sorted(groups, key=lambda g: -(g.created_ns or 0))


def _group(
    engine: str, services: list[dict[str, Any]], tasks: list[dict[str, Any]], nodes: dict[str, str]
) -> JobInfo:
    workers = sorted((worker_from(s, tasks, nodes) for s in services), key=lambda w: w.index)
    first = min(services, key=lambda s: _index(s))
    labels = (first.get("Spec") or {}).get("Labels") or {}
    container = ((first.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
    state = group_state(workers)
    created = min((parse_ns(s.get("CreatedAt")) or 0) for s in services) or None
    ended = [w.changed_ns for w in workers if w.ended and w.changed_ns]
    return JobInfo(
        job_id=labels.get(L.JOB, ""),
        name=labels.get(L.NAME, ""),
        container_id="",
        engine=labels.get(L.ENGINE, engine),
        image_ref=labels.get(L.IMAGE_REF, str(container.get("Image", ""))),
        image_id=labels.get(L.IMAGE_ID, str(container.get("Image", ""))),
        state=state.state,
        exit_code=state.exit_code,
        started_ns=created,
        finished_ns=max(ended) if ended and state.state in ("exited", "failed") else None,
        oom_killed=False,
        created_ns=created,
        gpus=labels.get(L.GPUS, "none"),
        workspace=labels.get(L.WORKSPACE, ""),
        command=tuple(container.get("Args") or ()),
        tag_override=labels.get(L.OVERRIDE) or None,
        workers=tuple(workers),
        failure=state.failure,
    )


def _index(service: dict[str, Any]) -> int:
    labels = (service.get("Spec") or {}).get("Labels") or {}
    try:
        return int(labels.get(WORKER, 0))
    except ValueError:
        return 0


def find_any(client: EngineClient, text: str, studio: str | None = None) -> JobInfo:
    """Returns this studio's job, one container or multi-worker, named by id, prefix or name.

    Raises JobError when none (or several) match, EngineError.
    """
    jobs = list_jobs(client, studio, stats=False) + list_groups(client, studio)
    return match_job(jobs, text, client.engine.name)


def refresh_group(client: EngineClient, job: JobInfo, *, enforce: bool = True) -> JobInfo:
    """Returns the group re-read from the swarm (a failing group's survivors stopped first
    with `enforce`). Raises JobError when its services are gone, EngineError."""
    found = list_groups(client, job_id=job.job_id, enforce=enforce)
    if not found:
        raise JobError(f"job {job.job_id} ({job.name}) no longer exists on engine {job.engine}")
    return found[0]


def stop_survivors(client: EngineClient, job: JobInfo, *, by: str) -> None:
    """Stops every worker of the group that has not ended (SIGTERM, then SIGKILL after its
    grace period); each keeps its task, exit code and log. Raises EngineError.

    The swarm takes a few seconds to act on a parked service; a worker on the
    engine's own node gets its SIGTERM from the engine at once as well.
    """
    docker = docker_sdk()
    alive = [w for w in job.workers if not w.ended]
    here = engine_node(client) if any(w.container_id for w in alive) else ""
    for worker in alive:
        park(client, worker.service_id, by)
        if worker.container_id and worker.node_id == here and worker.state == "running":
            try:
                with client.call(f"stopping worker {worker.index} of job {job.job_id}"):
                    client.api.kill(worker.container_id, signal="SIGTERM")
            except (EngineError, docker.errors.NotFound):
                pass  # it ended meanwhile: the swarm reports it


def stop_group(client: EngineClient, job: JobInfo) -> JobInfo:
    """Stops the whole group and returns it once every worker has ended.

    The grace period from SIGTERM to SIGKILL is the one the job started with
    (`[training] stop_timeout` then): a worker's task keeps the settings it
    was made with. Stopping a group that already ended is not an error.
    Raises JobError (still running long after), EngineError.
    """
    job = refresh_group(client, job)
    stop_survivors(client, job, by="stop")
    return _until_ended(client, job, STOP_WAIT_S + _grace_s(client, job))


def kill_group(client: EngineClient, job: JobInfo) -> JobInfo:
    """Kills every running worker (SIGKILL) and returns the group once they ended.

    Workers on the engine's own node are killed through their containers at
    once; a worker on another node cannot be reached through this engine and
    is stopped by the swarm (SIGTERM, then SIGKILL after the grace period).
    Raises JobError (not running), EngineError.
    """
    job = refresh_group(client, job)
    if not job.running:
        raise JobError(f"job {job.job_id} is not running ({job.exit_reason() or job.state})")
    docker = docker_sdk()
    here = engine_node(client)
    for worker in job.workers:
        if worker.ended:
            continue
        # Parked first (labelled "stopped by kill" and pinned to no node, in one update):
        # any update rolls the service out to a new task, and a parked one's cannot be
        # placed anywhere, so no worker starts again behind the kill.
        park(client, worker.service_id, "kill")
        if worker.container_id and worker.node_id == here and worker.state == "running":
            try:
                with client.call(f"killing worker {worker.index} of job {job.job_id}"):
                    client.api.kill(worker.container_id)
            except (EngineError, docker.errors.NotFound):
                pass  # it ended meanwhile, or its container went: the swarm stops it
    return _until_ended(client, job, STOP_WAIT_S + _grace_s(client, job))


def remove_group(client: EngineClient, job: JobInfo, *, force: bool = False) -> None:
    """Removes the group's services (their tasks and containers go with them) and network.

    Provenance must be finalised before. Raises JobError for a running group
    without `force`, EngineError.
    """
    job = refresh_group(client, job, enforce=False)
    if job.running and not force:
        raise JobError(
            f"job {job.job_id} is still running",
            hint=f"stop it first (tfstudio stop {job.job_id}) or pass --force",
        )
    for worker in job.workers:
        remove_service(client, worker.service_id)
    with client.call(f"listing the networks of job {job.job_id}"):
        networks = client.api.networks(
            filters={"label": [f"{L.JOB}={job.job_id}", f"{L.STUDIO}={L.studio_id()}"]}
        )
    for network in networks:
        remove_network(client, str(network["Id"]))


def wait_group(
    client: EngineClient,
    job: JobInfo,
    *,
    timeout_s: float | None = None,
    cancel: CancelToken | None = None,
    poll_s: float = 1.0,
) -> JobInfo:
    """Waits until every worker has ended (stopping the others when one fails) and returns
    the group. Each poll is three engine calls (services, tasks, nodes), so a guard
    that waits for days stays light. Raises JobError on timeout, CancelledError,
    EngineError."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        job = refresh_group(client, job)
        if not job.running:
            return job
        check_cancelled(cancel, f"waiting for job {job.job_id}")
        if deadline is not None and time.monotonic() > deadline:
            raise JobError(f"job {job.job_id} still runs after {timeout_s:g}s")
        time.sleep(poll_s)


def _until_ended(client: EngineClient, job: JobInfo, timeout_s: float) -> JobInfo:
    deadline = time.monotonic() + timeout_s
    while True:
        job = refresh_group(client, job, enforce=False)
        if not job.running:
            # The swarm reports a task ended from the container's exit event, a moment
            # before the engine lists that container as stopped: `stop` returning while
            # `docker ps` still shows a worker would read as a worker left behind.
            _until_containers_stopped(
                client, job, max(deadline - time.monotonic(), CONTAINERS_WAIT_S)
            )
            return job
        if time.monotonic() > deadline:
            alive = ", ".join(f"{w.label} {w.reason()}" for w in job.workers if not w.ended)
            raise JobError(
                f"job {job.job_id}: workers still not ended after {timeout_s:g}s ({alive})",
                hint="see docker service ps on the manager",
            )
        time.sleep(0.2)


def _until_containers_stopped(client: EngineClient, job: JobInfo, timeout_s: float) -> None:
    """Waits (at most `timeout_s`) until the engine lists none of the job's worker
    containers as running; a worker on another node is not listed here at all."""
    selector = [f"{L.JOB}={job.job_id}", f"{L.STUDIO}={L.studio_id()}", f"{L.KIND}={L.WORKER}"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with client.call(f"listing the containers of job {job.job_id}"):
            if not client.api.containers(filters={"label": selector}):
                return
        time.sleep(0.2)


def _grace_s(client: EngineClient, job: JobInfo) -> float:
    worker: WorkerInfo = job.workers[0]
    try:
        with client.call("reading the job's stop grace period"):
            spec = client.api.inspect_service(worker.service_id)["Spec"]
    except Exception:  # noqa: BLE001 - a default wait is fine when it cannot be read
        return 10.0
    grace = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("StopGracePeriod")
    return (int(grace) / 1e9) if grace else 10.0
