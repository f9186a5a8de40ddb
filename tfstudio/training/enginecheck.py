"""`engines check`: is an engine reachable, which version, NVIDIA runtime or not, GPUs, images,
and whether it is a swarm manager (multi-worker jobs), how many nodes are ready, how to make it one.

`check_engine` never raises for an engine that cannot be reached: an
unreachable engine is a state with its one-line reason and hint, so a list of
engines (or a TUI pane) shows every engine. `check_engines` checks several in
parallel.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tfstudio.errors import TfStudioError
from tfstudio.training import labels as L
from tfstudio.training.client import connect
from tfstudio.training.engines import Engine
from tfstudio.training.nvml import read_gpus
from tfstudio.training.swarm import swarm_state


@dataclass(frozen=True)
class EngineStatus:
    """What one engine check found."""

    name: str
    url: str
    reachable: bool
    error: str | None = None
    hint: str | None = None
    server_version: str | None = None
    api_version: str | None = None
    os: str | None = None
    arch: str | None = None
    cpus: int | None = None
    memory_bytes: int | None = None
    runtimes: tuple[str, ...] = ()
    nvidia_runtime: bool = False
    gpus: str | None = None
    """NVML's answer for an engine on this machine; for a remote one, why it is unknown."""
    images: int | None = None
    running_jobs: int | None = None
    rtt_ms: float | None = None
    swarm: str | None = None
    """The engine's swarm role in words: `manager, 2/2 node(s) ready`, `not in a swarm`, ..."""
    swarm_manager: bool = False
    """True when multi-worker jobs can run here (`train --workers N`)."""
    swarm_nodes_ready: int | None = None
    swarm_hint: str | None = None
    """How to make the engine a swarm manager, when it is not one."""

    def to_json(self) -> dict[str, Any]:
        """Returns every field."""
        out = dict(self.__dict__)
        out["runtimes"] = list(self.runtimes)
        return out


def check_engine(engine: Engine, *, connect_timeout: float = 10.0) -> EngineStatus:
    """Returns the status of `engine`; an unreachable engine is a status, not an exception."""
    started = time.monotonic()
    try:
        with connect(engine, connect_timeout=connect_timeout) as client:
            rtt = (time.monotonic() - started) * 1000
            with client.call("reading engine info"):
                info = client.api.info()
                jobs = client.api.containers(filters=L.ours_filter(L.studio_id()))
            swarm = swarm_state(client, info)
    except TfStudioError as exc:
        return EngineStatus(engine.name, engine.url, False, error=exc.message, hint=exc.hint)
    runtimes = tuple(sorted((info.get("Runtimes") or {}).keys()))
    nvidia = "nvidia" in runtimes or "nvidia" in str(info.get("DefaultRuntime", ""))
    if engine.remote:
        gpus = "unknown (NVML reads this machine only; run gpu-check on the engine)"
    else:
        gpus = read_gpus().summary()
    return EngineStatus(
        name=engine.name,
        url=engine.url,
        reachable=True,
        server_version=client.server_version,
        api_version=client.api_version,
        os=info.get("OperatingSystem"),
        arch=info.get("Architecture"),
        cpus=info.get("NCPU"),
        memory_bytes=info.get("MemTotal"),
        runtimes=runtimes,
        nvidia_runtime=nvidia,
        gpus=gpus,
        images=info.get("Images"),
        running_jobs=len(jobs),
        rtt_ms=round(rtt, 1),
        swarm=swarm.summary(),
        swarm_manager=swarm.manager,
        swarm_nodes_ready=swarm.ready if swarm.manager else None,
        swarm_hint=swarm.hint(engine.host_label()),
    )


def check_engines(engines: list[Engine], *, connect_timeout: float = 10.0) -> list[EngineStatus]:
    """Returns the status of every engine, checked in parallel, in the given order."""
    if not engines:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(engines))) as pool:
        return list(pool.map(lambda e: check_engine(e, connect_timeout=connect_timeout), engines))
