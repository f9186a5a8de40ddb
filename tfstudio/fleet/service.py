"""The agent's `serve` as a service on a device: enable, disable, status, and where it listens.

The agent does the work (`service enable|disable|status`: a systemd user unit
where `systemctl --user` works, else its own supervisor); this module runs it
over the device's Transport and returns typed results. `endpoint` tells the
telemetry and predict clients which loopback port to tunnel to and the
bearer token to send; the token never appears in `to_json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tfstudio.errors import DeviceError
from tfstudio.fleet.agentcall import AgentClient
from tfstudio.fleet.registry import Device
from tfstudio.operations import CancelToken
from tfstudio.transport.base import Transport

DEFAULT_PORT = 8501
"""TF Serving's REST port, on the device's loopback."""


@dataclass(frozen=True)
class ServiceState:
    """What the agent says about its service on one device (`changed`: after enable)."""

    device: str
    enabled: bool
    running: bool
    mode: str | None = None
    port: int | None = None
    pid: int | None = None
    uptime_s: float | None = None
    restarts: int | None = None
    active: dict[str, Any] | None = None
    last_exit: str | None = None
    last_error: str | None = None
    hint: str | None = None
    linger: bool | None = None
    log: str | None = None
    server: dict[str, Any] = field(default_factory=dict)
    systemd: dict[str, Any] | None = None
    """After enable: whether `systemctl --user` works there, and why not."""
    changed: bool | None = None
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_agent(cls, device: str, answer: dict[str, Any]) -> ServiceState:
        """Builds the state from the agent's `service` answer."""
        known = {f for f in cls.__dataclass_fields__ if f != "device"}
        return cls(device=device, **{k: v for k, v in answer.items() if k in known})

    def summary(self) -> str:
        """One line: 'running (process) on :PORT, up 2m, 1 restart' or why not."""
        if not self.enabled:
            return "not enabled"
        if not self.running:
            why = f": {self.last_error}" if self.last_error else ""
            return f"enabled ({self.mode}) but NOT running{why}"
        text = f"running ({self.mode}) on 127.0.0.1:{self.port}"
        if self.uptime_s is not None:
            text += f", up {format_duration(self.uptime_s)}"
        if self.restarts:
            text += f", {self.restarts} restart{'s' if self.restarts != 1 else ''}"
        return text

    def to_json(self) -> dict[str, Any]:
        """Returns every field but the token."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "token"}
        out["summary"] = self.summary()
        return out


def format_duration(seconds: float) -> str:
    """Returns '42s', '7m', '3h12m' or '2d4h'."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"


def control(
    device: Device,
    transport: Transport,
    action: str,
    *,
    port: int = DEFAULT_PORT,
    mode: str = "auto",
    token: bool = True,
    wait_s: float = 30.0,
    cancel: CancelToken | None = None,
) -> ServiceState:
    """Runs the agent's `service enable|disable|status` on `device`; returns its state.

    Raises AgentRefusal (the agent's code: usage, locked, service_failed...),
    TransportError, CancelledError.
    """
    if action not in ("enable", "disable", "status"):
        raise ValueError(action)
    client = AgentClient(device, transport, timeout=wait_s + 60)
    args = [action]
    if action == "enable":
        args += [f"--port={port}", f"--mode={mode}", f"--wait={wait_s:g}"]
        if not token:
            args.append("--no-token")
    answer = client.call("service", *args, cancel=cancel)
    if action == "disable":
        answer = {**client.call("service", "status", cancel=cancel), "changed": answer["stopped"]}
    return ServiceState.from_agent(device.name, answer)


@dataclass(frozen=True)
class Endpoint:
    """Where the device's agent server listens (its loopback) and the token it wants."""

    port: int
    token: str | None
    service: ServiceState

    @property
    def max_body_bytes(self) -> int | None:
        """The largest request body the server takes (None: an agent that does not say)."""
        value = (self.service.server or {}).get("max_body_bytes")
        return int(value) if isinstance(value, int) and value > 0 else None


def endpoint(device: Device, transport: Transport, cancel: CancelToken | None = None) -> Endpoint:
    """Returns the running server's port and token (one agent call).

    Raises DeviceError when no server runs there (with the command that starts
    one), AgentRefusal / TransportError.
    """
    answer = AgentClient(device, transport, timeout=60).call(
        "service", "status", "--with-token", cancel=cancel
    )
    state = ServiceState.from_agent(device.name, answer)
    server = state.server or {}
    if not server.get("running") or not server.get("port"):
        # A supervisor killed outright leaves no error behind: say that, not "None".
        reason = state.last_error or state.last_exit or "it stopped without leaving an error"
        why = f" (the service is enabled but down: {reason})" if state.enabled else ""
        raise DeviceError(
            f"{device.name}: the agent's server is not running{why}",
            hint=f"start it: tfstudio agent serve {device.name} --enable",
        )
    token = state.token if state.running else None
    return Endpoint(int(server["port"]), token, state)
