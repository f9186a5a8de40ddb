"""`devices check`: is the device reachable, and is its agent there and current?

Reports round-trip time, the agent version (missing / outdated with the command
that fixes it), runtime, arch and the active model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edge_agent import __version__ as AGENT_VERSION
from edge_agent.tflite_schema import parse_version
from tfstudio.errors import TfStudioError
from tfstudio.fleet import fanout
from tfstudio.fleet.agentcall import AgentClient, AgentRefusal, install_hint
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import Device
from tfstudio.operations import CancelToken
from tfstudio.transport.base import Transport

RTT_SAMPLES = 3


@dataclass(frozen=True)
class CheckResult:
    """What `devices check` found for one device."""

    device: str
    reachable: bool
    agent: str  # "ok", "missing", "outdated", "unknown"
    rtt_ms: float | None = None
    agent_version: str | None = None
    runtime: dict[str, Any] | None = None
    arch: str | None = None
    python: str | None = None
    active: dict[str, Any] | None = None
    service: dict[str, Any] | None = None
    error: str | None = None
    hint: str | None = None

    @property
    def service_text(self) -> str | None:
        """The agent service in a few words: 'up 3m (process)', 'down', 'off' (None: unknown)."""
        from tfstudio.fleet.service import format_duration

        svc = self.service
        if svc is None:
            return None
        if not svc.get("enabled"):
            return "off"
        if not svc.get("running"):
            return f"DOWN ({svc.get('mode')})"
        up = svc.get("uptime_s")
        text = f"up {format_duration(up)}" if isinstance(up, (int, float)) else "up"
        restarts = svc.get("restarts")
        return text + f" ({svc.get('mode')}" + (f", {restarts} restarts)" if restarts else ")")

    @property
    def ok(self) -> bool:
        """True when reachable and the agent is present and current."""
        return self.reachable and self.agent == "ok"

    def to_json(self) -> dict[str, Any]:
        """Returns the fields plus `ok`."""
        return {**self.__dict__, "ok": self.ok}


def check_many(
    devices: Sequence[Device],
    *,
    connect: Callable[[Device], Transport] | None = None,
    workers: int = 8,
) -> list[CheckResult]:
    """Checks every device on a bounded pool; returns results in device order.

    Ctrl-C answers the devices not done yet as cancelled, at once.
    """
    return fanout.run_all(
        devices,
        lambda i, d: check_device(d, connect=connect),
        workers=workers,
        cancel=CancelToken(),
        abandon=lambda i, d: CheckResult(d.name, False, "unknown", error=f"{d.name}: cancelled"),
        grace_s=0.0,
        name="check",
    )


def check_device(
    device: Device, *, connect: Callable[[Device], Transport] | None = None
) -> CheckResult:
    """Connects to `device`, times round trips and runs the agent's `info`. Never raises."""
    try:
        transport = (connect or open_transport)(device)
    except TfStudioError as exc:
        return CheckResult(device.name, False, "unknown", error=exc.message, hint=exc.hint)
    with transport:
        try:
            samples = []
            for _ in range(RTT_SAMPLES):
                started = time.perf_counter()
                transport.run(["true"], timeout=30, label="a round trip")
                samples.append((time.perf_counter() - started) * 1000)
            rtt = round(min(samples), 3)
            info = AgentClient(device, transport, timeout=60).call("info")
        except AgentRefusal as exc:
            agent = "missing" if exc.code == "agent_missing" else "unknown"
            return CheckResult(device.name, True, agent, rtt, error=exc.message, hint=exc.hint)
        except TfStudioError as exc:
            return CheckResult(device.name, False, "unknown", error=exc.message, hint=exc.hint)
    version = str(info.get("agent_version") or "")
    outdated = parse_version(version) < parse_version(AGENT_VERSION)
    return CheckResult(
        device=device.name,
        reachable=True,
        agent="outdated" if outdated else "ok",
        rtt_ms=rtt,
        agent_version=version,
        runtime=info.get("runtime"),
        arch=info.get("arch"),
        python=info.get("python"),
        active=info.get("active"),
        service=info.get("service"),
        error=f"{device.name}: agent {version} is older than {AGENT_VERSION}" if outdated else None,
        hint=install_hint(device) if outdated else None,
    )
