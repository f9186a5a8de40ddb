"""Docker Swarm for multi-worker jobs: is the engine a manager, and the job's swarm objects.

A multi-worker job runs on a swarm the user already has (every Docker Engine
has Swarm built in; `docker swarm init` makes a one-node swarm, `docker swarm
join` adds machines): tfstudio schedules nothing itself. Each worker is one
service with one replica and restart condition none, on the job's own
overlay network, with DNS round-robin endpoints so that the service's name
resolves to its task's address (the default virtual IP did not connect
MultiWorkerMirroredStrategy's workers on this engine).

Stopping a worker (`park`) keeps its task, container, exit code and log: the
service is pinned to no node, so the swarm shuts the task down (SIGTERM, then
SIGKILL after the grace period) and the replacement it makes waits,
unplaceable, until the job is removed. Scaling to 0 replicas would remove
the task and its container, and with them the worker's log and exit code.

`docker` is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from typing import Any

from tfstudio.training.client import EngineClient, docker_sdk
from tfstudio.training.errors import EngineError, SwarmError
from tfstudio.training.workers import STOPPED_AT, STOPPED_BY

PARKED = "node.id==tfstudio-stopped"
"""A placement constraint no node meets (node ids are 25 lower-case letters and digits)."""
GPU_KINDS = ("NVIDIA-GPU", "GPU", "gpu", "nvidia.com/gpu")
"""Generic resource kinds read as GPUs, first match wins (Docker's docs use NVIDIA-GPU)."""
NETWORK_GONE_S = 20.0
"""How long removing a job's network waits for the workers' endpoints to leave it."""


@dataclass(frozen=True)
class SwarmState:
    """What the engine says about its swarm: its role, its nodes, their GPUs."""

    state: str
    """The engine's `LocalNodeState`: inactive, pending, active, error or locked."""
    manager: bool
    node_id: str = ""
    address: str = ""
    nodes: int = 0
    ready: int = 0
    """Nodes that are ready and active (tasks can be placed on them)."""
    node_gpus: tuple[dict[str, int], ...] = field(default=())
    """Per ready node: GPU generic resources it advertises, {kind: count}."""
    error: str = ""

    def summary(self) -> str:
        """Returns one line: `manager, 1/1 nodes ready`, `worker node`, `not in a swarm`."""
        if self.manager:
            return f"manager, {self.ready}/{self.nodes} node(s) ready"
        if self.state == "active":
            return "worker node (not a manager)"
        if self.state == "inactive":
            return "not in a swarm"
        return f"swarm {self.state}" + (f": {self.error}" if self.error else "")

    def hint(self, host: str) -> str | None:
        """Returns how to make the engine a swarm manager (None when it is one)."""
        if self.manager:
            return None
        if self.state == "active":
            return (
                f"the engine on {host} is a swarm worker: use a manager's engine, or promote "
                "it on a manager (docker node promote NODE)"
            )
        if self.state == "locked":
            return f"unlock the swarm on {host}: docker swarm unlock"
        return (
            f"make it a one-node swarm: docker swarm init --advertise-addr ADDRESS (on {host}); "
            "add machines with docker swarm join"
        )

    def gpu_kind(self) -> str | None:
        """Returns the generic resource kind the nodes advertise as GPUs, or None."""
        kinds = {k for node in self.node_gpus for k in node}
        return next((k for k in GPU_KINDS if k in kinds), next(iter(sorted(kinds)), None))

    def most_gpus(self, kind: str) -> int:
        """Returns the most GPUs of `kind` any one ready node has."""
        return max((node.get(kind, 0) for node in self.node_gpus), default=0)

    def to_json(self) -> dict[str, Any]:
        """Returns the state with `node_gpus` as lists."""
        out = dict(self.__dict__)
        out["node_gpus"] = [dict(n) for n in self.node_gpus]
        return out


def swarm_state(client: EngineClient, info: dict[str, Any] | None = None) -> SwarmState:
    """Returns the engine's swarm role; a manager also lists its nodes. Raises EngineError."""
    if info is None:
        with client.call("reading engine info"):
            info = client.api.info()
    swarm = info.get("Swarm") or {}
    if not swarm.get("ControlAvailable"):
        return state_from(swarm, [])
    with client.call("listing swarm nodes"):
        return state_from(swarm, client.api.nodes())


def state_from(swarm: dict[str, Any], nodes: list[dict[str, Any]]) -> SwarmState:
    """Returns the SwarmState of `docker info`'s `Swarm` part and a manager's node list."""
    manager = bool(swarm.get("ControlAvailable"))
    ready = [n for n in nodes if _ready(n)] if manager else []
    return SwarmState(
        state=str(swarm.get("LocalNodeState") or "inactive"),
        manager=manager,
        node_id=str(swarm.get("NodeID") or ""),
        address=str(swarm.get("NodeAddr") or ""),
        nodes=len(nodes) if manager else 0,
        ready=len(ready),
        node_gpus=tuple(_node_gpus(n) for n in ready),
        error=str(swarm.get("Error") or ""),
    )


def engine_node(client: EngineClient) -> str:
    """Returns the swarm node id of the engine itself ("" outside a swarm). Raises EngineError."""
    with client.call("reading engine info"):
        info = client.api.info()
    return str((info.get("Swarm") or {}).get("NodeID") or "")


def node_names(client: EngineClient) -> dict[str, str]:
    """Returns {node id: hostname} of the swarm's nodes. Raises EngineError."""
    with client.call("listing swarm nodes"):
        nodes = client.api.nodes()
    return {
        str(n.get("ID")): str(((n.get("Description") or {}).get("Hostname")) or n.get("ID"))
        for n in nodes
    }


def require_manager(client: EngineClient) -> SwarmState:
    """Returns the swarm's state when the engine is a manager with a ready node.

    Raises SwarmError naming what the engine is and how to make it a
    manager, EngineError.
    """
    state = swarm_state(client)
    refused = manager_refusal(client.engine.name, client.engine.host_label(), state)
    if refused is not None:
        raise refused
    return state


def manager_refusal(engine: str, host: str, state: SwarmState) -> SwarmError | None:
    """Returns why multi-worker jobs cannot run on this engine, with the fix; None when
    it is a manager with a ready node."""
    if not state.manager:
        return SwarmError(
            f"engine {engine} is not a swarm manager ({state.summary()}): multi-worker "
            "jobs run as Docker Swarm services",
            hint=state.hint(host),
        )
    if state.ready == 0:
        return SwarmError(
            f"engine {engine}: no swarm node is ready and active ({state.nodes} in all)",
            hint="see docker node ls on the manager",
        )
    return None


def _ready(node: dict[str, Any]) -> bool:
    status = (node.get("Status") or {}).get("State")
    availability = (node.get("Spec") or {}).get("Availability")
    return status == "ready" and availability == "active"


def _node_gpus(node: dict[str, Any]) -> dict[str, int]:
    resources = (node.get("Description") or {}).get("Resources") or {}
    found: dict[str, int] = {}
    for item in resources.get("GenericResources") or []:
        discrete = item.get("DiscreteResourceSpec")
        named = item.get("NamedResourceSpec")
        if discrete:
            kind, count = str(discrete.get("Kind")), int(discrete.get("Value") or 0)
        elif named:
            kind, count = str(named.get("Kind")), 1
        else:
            continue
        if "gpu" in kind.lower():
            found[kind] = found.get(kind, 0) + count
    return found


# -- the job's network -------------------------------------------------------


def create_network(client: EngineClient, name: str, labels: dict[str, str]) -> str:
    """Creates the job's attachable overlay network and returns its id. Raises SwarmError."""
    try:
        with client.call(f"creating network {name}"):
            made = client.api.create_network(
                name, driver="overlay", attachable=True, labels=labels, check_duplicate=True
            )
    except EngineError as exc:
        raise SwarmError(exc.message, hint="see docker network ls on the manager") from exc
    return str(made["Id"])


def remove_network(client: EngineClient, network: str, *, wait_s: float = NETWORK_GONE_S) -> None:
    """Removes the job's network, waiting while the workers' endpoints leave it.

    A network already gone is not an error. Raises SwarmError when it is
    still in use after `wait_s`.
    """
    docker = docker_sdk()
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with client.call(f"removing network {network}"):
                client.api.remove_network(network)
            return
        except docker.errors.NotFound:
            return
        except EngineError as exc:
            busy = "active endpoints" in exc.message or "in use" in exc.message
            if not busy or time.monotonic() > deadline:
                raise SwarmError(
                    exc.message, hint=f"remove it later: docker network rm {network}"
                ) from exc
        time.sleep(0.25)


# -- services ----------------------------------------------------------------


def create_service(client: EngineClient, name: str, spec: dict[str, Any]) -> str:
    """Creates one worker's service from `spec` (keywords of `create_service`); returns its id.

    Raises SwarmError (the name is taken, the engine refused the spec).
    """
    try:
        with client.call(f"creating service {name}"):
            made = client.api.create_service(name=name, **spec)
    except EngineError as exc:
        hint = None
        if "already exists" in exc.message or "name conflicts" in exc.message:
            hint = "pick another --name, or remove the old job (tfstudio rm JOB)"
        raise SwarmError(exc.message, hint=hint) from exc
    return str(made["ID"])


def park(client: EngineClient, service: str, by: str) -> None:
    """Stops a worker for good and keeps its task: labels say tfstudio stopped it (`by`),
    and the service is pinned to no node so the swarm shuts its task down.

    A service already gone is not an error. Raises EngineError.
    """
    docker = docker_sdk()
    for attempt in range(3):
        try:
            with client.call(f"stopping service {service}"):
                current = client.api.inspect_service(service)
                spec = current.get("Spec") or {}
                labels = dict(spec.get("Labels") or {})
                if PARKED in _constraints(spec):
                    return
                labels.setdefault(STOPPED_BY, by)
                labels.setdefault(STOPPED_AT, str(time.time_ns()))
                template = copy.deepcopy(spec.get("TaskTemplate") or {})
                placement = template.setdefault("Placement", {})
                placement["Constraints"] = [*(placement.get("Constraints") or []), PARKED]
                template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
                client.api.update_service(
                    service,
                    current["Version"]["Index"],
                    task_template=template,
                    labels=labels,
                    fetch_current_spec=True,
                )
            return
        except docker.errors.NotFound:
            return
        except EngineError as exc:
            # Another process parked or relabelled it between the read and the write.
            if "out of sequence" not in exc.message or attempt == 2:
                raise


def remove_service(client: EngineClient, service: str) -> None:
    """Removes a worker's service (its tasks and containers go with it); gone is fine.

    Raises EngineError.
    """
    docker = docker_sdk()
    with contextlib.suppress(docker.errors.NotFound), client.call(f"removing {service}"):
        client.api.remove_service(service)


def _constraints(spec: dict[str, Any]) -> list[str]:
    template = spec.get("TaskTemplate") or {}
    return list((template.get("Placement") or {}).get("Constraints") or [])
