"""A rollout wave's soak: watch the live traffic of the devices that got the model, for a while.

`--soak 60s` waits that long after a wave is deployed. On each device where the
agent's service runs, it reads the server's own telemetry (`/metrics`, through
the studio's SSH connection, as `tfstudio metrics` does) at the start, every
few seconds, and at the end. The verdict is over the whole window: the share of
requests that failed (HTTP 4xx/5xx, the studio's own scrapes left out) against
`--max-error-rate`, and the request latency p99 against `--max-request-p99-ms`.
A device without a running service has no live figures: it is noted, not failed.
A device whose metrics stop answering during the soak fails it (its server went
away under the new model). A window with no requests passes with a note.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tfstudio.errors import CancelledError, DeviceError, TfStudioError
from tfstudio.fleet import fanout
from tfstudio.fleet.registry import Device
from tfstudio.operations import CancelToken
from tfstudio.transport.base import Transport
from tfstudio.tunnel import prometheus
from tfstudio.tunnel.telemetry import summarize

DEFAULT_MAX_ERROR_RATE = 0.01
"""The share of failed requests a soak lets through when not told (1%)."""

POLL_S = 5.0
"""How often the devices are read during a soak (for the live figures shown)."""


def parse_duration(text: str) -> float:
    """Returns the seconds of `60`, `60s`, `2m`, `1m30s`, `1h`. Raises UsageError."""
    from tfstudio.errors import UsageError

    units = {"s": 1, "m": 60, "h": 3600}
    spoken = text.strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)([smh]?)", spoken)
    if not parts or "".join(a + b for a, b in parts) != spoken:
        raise UsageError(f"{text!r} is not a time", hint="e.g. 60s, 2m, 1m30s")
    return sum(float(n) * units[u or "s"] for n, u in parts)


@dataclass(frozen=True)
class SoakGate:
    """How long to soak and what the window may show."""

    seconds: float
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    max_p99_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Returns the gate's settings."""
        return asdict(self)


@dataclass(frozen=True)
class DeviceSoak:
    """One device's figures over the soak window (so far), and its verdict."""

    device: str
    served: bool
    requests: int = 0
    errors: int = 0
    p99_ms: float | None = None
    failure: str | None = None
    note: str | None = None

    @property
    def error_rate(self) -> float | None:
        """Failed requests over requests (None without traffic)."""
        return self.errors / self.requests if self.requests else None

    def to_json(self) -> dict[str, Any]:
        """Returns the figures (with the error rate)."""
        return {**asdict(self), "error_rate": self.error_rate}


class _Watch:
    """One device's connection to its server's metrics, and the window's first reading."""

    def __init__(self, device: Device, connect: Callable[[Device], Transport]) -> None:
        self.device = device
        self._connect = connect
        self.transport: Transport | None = None
        self.http: Any = None
        self.baseline: prometheus.Samples | None = None
        self.served = False
        self.note: str | None = None

    def open(self, cancel: CancelToken) -> None:
        from tfstudio.fleet.service import endpoint
        from tfstudio.tunnel.channel import LoopbackHTTP

        try:
            self.transport = self._connect(self.device)
            found = endpoint(self.device, self.transport, cancel)
            self.http = LoopbackHTTP(self.transport, found.port, found.token, 30.0)
            self.baseline = self.read()
            self.served = True
        except DeviceError:
            self.note = "no service running: no live figures"
            self.close()
        except TfStudioError as exc:
            self.note = f"metrics not read: {exc.message.removeprefix(self.device.name + ': ')}"
            self.close()

    def read(self) -> prometheus.Samples:
        from tfstudio.tunnel.channel import refusal

        answer = self.http.request("GET", "/metrics")
        if answer.status != 200:
            raise refusal(answer, self.device.name)
        return prometheus.parse(answer.text)

    def figures(self, gate: SoakGate) -> DeviceSoak:
        """Reads the metrics now; returns the window's figures and verdict."""
        name = self.device.name
        if not self.served:
            return DeviceSoak(name, False, note=self.note)
        try:
            now = self.read()
        except TfStudioError as exc:
            text = exc.message.removeprefix(name + ": ")
            return DeviceSoak(name, True, failure=f"its metrics stopped answering ({text})")
        start = summarize(name, self.baseline or {})
        window = summarize(name, now, self.baseline)
        restarted = window.since_start
        requests = window.requests - (0 if restarted else start.requests)
        errors = window.errors - (0 if restarted else start.errors)
        latency = window.request_latency
        p99 = latency.p99_ms if latency is not None and latency.count else None
        failure = None
        if requests and errors / requests > gate.max_error_rate:
            failure = (
                f"error rate {errors / requests:.1%} ({errors} of {requests} requests) is over "
                f"--max-error-rate {gate.max_error_rate:g}"
            )
        elif gate.max_p99_ms is not None and p99 is not None and p99 > gate.max_p99_ms:
            failure = f"request p99 {p99:.3f} ms is over --max-request-p99-ms {gate.max_p99_ms:g}"
        note = "no requests during the soak" if not requests else None
        if restarted:
            note = "its server restarted during the soak"
        return DeviceSoak(name, True, requests, errors, p99, failure, note)

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.transport is not None:
            self.transport.close()
        self.http = self.transport = None


def soak(
    devices: Sequence[Device],
    gate: SoakGate,
    connect: Callable[[Device], Transport],
    *,
    cancel: CancelToken,
    progress: Callable[[float, list[DeviceSoak]], None] | None = None,
    poll_s: float = POLL_S,
    workers: int = 8,
) -> list[DeviceSoak]:
    """Soaks `devices` for `gate.seconds`; returns each one's figures and verdict, in order.

    `progress(elapsed_s, figures)` is told at each reading. Raises CancelledError when
    `cancel` is set (or Ctrl-C comes) during the wait.
    """
    watches = [_Watch(d, connect) for d in devices]

    def each(job: Callable[[_Watch], Any]) -> list[Any]:
        return fanout.run_all(
            watches,
            lambda i, w: job(w),
            workers=max(1, min(workers, len(watches))),
            cancel=cancel,
            abandon=lambda i, w: DeviceSoak(w.device.name, w.served, note="cancelled"),
            grace_s=0.0,
            name="soak",
        )

    started = time.monotonic()
    try:
        each(lambda w: w.open(cancel))
        while True:
            left = gate.seconds - (time.monotonic() - started)
            if left <= 0:
                break
            try:
                stopped = cancel.wait(min(poll_s, left))
            except KeyboardInterrupt:
                cancel.set()
                stopped = True
            if stopped:
                raise CancelledError("soak interrupted")
            if progress is not None and gate.seconds - (time.monotonic() - started) > 0.5:
                progress(time.monotonic() - started, each(lambda w: w.figures(gate)))
        figures: list[DeviceSoak] = each(lambda w: w.figures(gate))
        if progress is not None:
            progress(time.monotonic() - started, figures)
        return figures
    finally:
        for watch in watches:
            watch.close()
