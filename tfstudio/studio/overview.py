"""What the studio can show at a glance, cheaply: readiness of each part, device summaries.

`readiness()` says, for each part a user may need (the convert extra, a LiteRT
runtime for the built-in `local` device, training: the docker SDK and the
default training engine), whether it is there, and if not the one thing to do
about it. It never imports tensorflow or docker: it asks importlib whether a
package is installed and speaks HTTP to the engine's socket itself. `device_summaries()`
joins the registry with the last check, deploy and bench of each device.
"""

from __future__ import annotations

import importlib.util
import socket
from dataclasses import dataclass
from typing import Any

from tfstudio import history
from tfstudio.config import Config
from tfstudio.errors import TfStudioError
from tfstudio.fleet import deploylog
from tfstudio.fleet.registry import Device, list_devices

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
PING_TIMEOUT_S = 1.0
"""A local engine answers /_ping in milliseconds; a second means it is not there."""


@dataclass(frozen=True)
class Readiness:
    """One part's state: `ok`, a short `state` text and the `fix` when not ok."""

    part: str
    ok: bool
    state: str
    fix: str | None = None
    detail: str = ""

    @property
    def line(self) -> str:
        """One line: the state, its detail and the fix."""
        text = f"{self.part}: {self.state}" + (f" ({self.detail})" if self.detail else "")
        return text + (f"; fix: {self.fix}" if self.fix else "")

    def to_json(self) -> dict[str, Any]:
        """Returns the fields as a dict."""
        return {
            "part": self.part,
            "ok": self.ok,
            "state": self.state,
            "detail": self.detail,
            "fix": self.fix,
        }


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def docker_host() -> str:
    """Returns the address of the built-in engine: the docker CLI's (DOCKER_HOST, a
    context, or the local socket)."""
    from tfstudio.training.engines import local_engine

    return local_engine().url or DEFAULT_DOCKER_HOST


def ping_docker(address: str | None = None, timeout: float = PING_TIMEOUT_S) -> Readiness:
    """Returns whether a Docker Engine answers `GET /_ping` at `address` (unix or tcp)."""
    address = address or docker_host()
    fix = "install docker.io and start dockerd"
    try:
        if address.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(address.removeprefix("unix://"))
        elif address.startswith("tcp://"):
            host, _, port = address.removeprefix("tcp://").rpartition(":")
            sock = socket.create_connection((host, int(port)), timeout=timeout)
        else:
            return Readiness("docker engine", False, "not checked", detail=address)
        with sock:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = sock.recv(256)
    except (OSError, ValueError):
        return Readiness("docker engine", False, "not reachable", fix, f"at {address}")
    if b" 200 " not in answer.split(b"\r\n", 1)[0]:
        return Readiness("docker engine", False, "not ready", fix, f"at {address}")
    return Readiness("docker engine", True, "running", detail=address)


def readiness(config: Config | None = None) -> list[Readiness]:
    """Returns the state of each part, the slow one (the engine ping) last."""
    parts = []
    if _installed("tensorflow"):
        parts.append(Readiness("convert", True, "ready", detail="tensorflow installed"))
    else:
        fix = "pip install 'tfstudio[convert]'"
        parts.append(Readiness("convert", False, "missing", fix, "tensorflow not installed"))
    runtime = next(
        (name for name in ("ai_edge_litert", "tflite_runtime") if _installed(name)), None
    )
    if runtime is None and _installed("tensorflow"):
        runtime = "tensorflow.lite"
    if runtime:
        parts.append(Readiness("local device", True, "ready", detail=f"runtime {runtime}"))
    else:
        fix = "pip install 'tfstudio[agent]'"
        parts.append(Readiness("local device", False, "missing", fix, "no LiteRT runtime"))
    parts.append(training_readiness(config))
    return parts


def training_readiness(config: Config | None = None) -> Readiness:
    """Returns whether jobs can start: the docker SDK is there and the default engine answers.

    A local (unix://) or plain tcp:// engine is pinged; an ssh:// or TLS engine
    is not (that needs a handshake): the Jobs view checks it for real.
    """
    from tfstudio.training.engines import get_engine
    from tfstudio.training.settings import training_settings

    if not _installed("docker"):
        fix = "pip install 'tfstudio[train]'"
        return Readiness("training", False, "missing", fix, "docker SDK not installed")
    try:
        engine = get_engine(training_settings(config).engine, config)
    except TfStudioError as exc:
        return Readiness("training", False, "misconfigured", exc.hint, exc.message)
    if engine.problem:
        return Readiness("training", False, "misconfigured", engine.problem_hint, engine.problem)
    if engine.scheme == "ssh" or engine.tls:
        return Readiness(
            "training", True, f"engine {engine.name}", detail=f"{engine.url}, checked in Jobs"
        )
    ping = ping_docker(engine.url)
    if not ping.ok:
        remote = f"start dockerd on {engine.host_label()}; see: tfstudio engines check"
        fix_it = f"{remote} {engine.name}" if engine.remote else ping.fix
        what = "Docker Engine" if engine.name == "local" else f"engine {engine.name}"
        return Readiness("training", False, f"{what} {ping.state}", fix_it, f"at {engine.url}")
    return Readiness("training", True, "ready", detail=f"engine {engine.name} at {engine.url}")


@dataclass(frozen=True)
class DeviceSummary:
    """A device with what the studio last learnt about it."""

    device: Device
    reachable: bool | None
    runtime: str | None
    active: str | None
    p50_ms: float | None
    p99_ms: float | None
    last_seen: str | None
    agent: str | None

    @property
    def name(self) -> str:
        """The device's name."""
        return self.device.name

    @property
    def address(self) -> str:
        """`user@host:port`, or `this machine` for local."""
        d = self.device
        if d.kind == "local":
            return "this machine"
        user = f"{d.user}@" if d.user else ""
        port = f":{d.port}" if d.port else ""
        return f"{user}{d.host}{port}"

    def to_json(self) -> dict[str, Any]:
        """Returns the device plus its last known facts."""
        return {
            "device": self.device.to_json(),
            "reachable": self.reachable,
            "runtime": self.runtime,
            "active": self.active,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "last_seen": self.last_seen,
            "agent": self.agent,
        }


def _runtime_text(runtime: Any) -> str | None:
    if isinstance(runtime, dict) and runtime.get("name"):
        return f"{runtime['name']} {runtime.get('version', '')}".strip()
    return None


REACHED = ("ok", "rolled_back", "refused")
"""Deploy results that mean the device answered (a refusal comes from its preflight)."""


def device_summaries() -> list[DeviceSummary]:
    """Returns every device (local first) with its last check, deploy and bench."""
    checks = history.latest_by_device(history.CHECKS)
    answered = {}  # each device's last check that reached it
    for entry in history.read(history.CHECKS):
        if entry.get("reachable") and isinstance(entry.get("device"), str):
            answered[entry["device"]] = entry
    benches = history.latest_by_device(history.BENCH)
    deploys: dict[str, dict[str, Any]] = {}
    for entry in deploylog.read():
        if isinstance(entry.get("device"), str):
            deploys[entry["device"]] = entry
    out = []
    for device in list_devices():
        check = checks.get(device.name, {})
        bench = benches.get(device.name, {})
        deploy = deploys.get(device.name, {})
        # The newest of the bench numbers: a later deploy's health gate or a bench.
        latency = bench
        if (deploy.get("bench") or {}) and deploy.get("time", "") >= bench.get("time", ""):
            latency = deploy["bench"]
        # Seen: the last time the device answered (a check that reached it, a bench, a
        # deploy that got as far as the device), never a failed attempt.
        seen_check = answered.get(device.name, {})
        reached = [
            str(e["time"])
            for e in (seen_check, bench, deploy if deploy.get("result") in REACHED else {})
            if e.get("time")
        ]
        last_seen = max(reached) if reached else None
        reachable = check.get("reachable") if check else None
        if last_seen is not None and last_seen > check.get("time", ""):
            reachable = True  # it answered since the last check
        runtime = _runtime_text(seen_check.get("runtime"))
        if bench.get("runtime") and bench.get("time", "") >= seen_check.get("time", ""):
            runtime = str(bench["runtime"])
        active = (check.get("active") or {}).get("name") if check else None
        if deploy.get("time", "") >= check.get("time", "") and deploy.get("result") == "ok":
            active = str(deploy.get("model", "")).rsplit("/", 1)[-1] or active
        out.append(
            DeviceSummary(
                device=device,
                reachable=reachable,
                runtime=runtime,
                active=active,
                p50_ms=latency.get("p50_ms"),
                p99_ms=latency.get("p99_ms"),
                last_seen=last_seen,
                agent=check.get("agent_version") or device.agent_version,
            )
        )
    return out
