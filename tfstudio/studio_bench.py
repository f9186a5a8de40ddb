"""One device's bench for the facade: connect, push to scratch if needed, bench, report.

It speaks the one operation contract (stage events, transfer ticks, the
cancel token) around `tfstudio.fleet.bench.bench_on`, and returns a
`BenchRow`: the agent's report or the error that prevented it, never raising
for a device's failure so a fan-out always finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.errors import TfStudioError
from tfstudio.operations import CancelToken, EventCallback, Stage, StageStarted, TransferTick

if TYPE_CHECKING:
    from tfstudio.fleet.bench import BenchSettings
    from tfstudio.fleet.push import TransferProgress
    from tfstudio.fleet.registry import Device
    from tfstudio.fleet.transport import Transport

LATENCY_KEYS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "init_ms", "first_invoke_ms")


@dataclass(frozen=True)
class BenchRow:
    """One device's bench: the agent's report, or the one-line error and its fix."""

    device: str
    model: str
    report: dict[str, Any] | None
    error: str | None = None
    hint: str | None = None
    pushed_bytes: int = 0

    @property
    def ok(self) -> bool:
        """True when the agent reported numbers."""
        return self.report is not None

    @property
    def message(self) -> str:
        """One line: the p50/p99 or the error."""
        if self.report is None:
            return self.error or "failed"
        return f"p50 {self.value('p50_ms'):.3f} ms, p99 {self.value('p99_ms'):.3f} ms"

    def value(self, key: str) -> float:
        """Returns a number of the report (NaN when absent)."""
        found = (self.report or {}).get(key)
        return float(found) if isinstance(found, (int, float)) else float("nan")

    def history_entry(self) -> dict[str, Any]:
        """Returns what the studio stores of this bench (numbers, model, runtime)."""
        report = self.report or {}
        runtime = report.get("runtime") or {}
        return {
            "device": self.device,
            "model": self.model,
            "sha256": (report.get("model") or {}).get("sha256"),
            "runtime": f"{runtime.get('name', '')} {runtime.get('version', '')}".strip() or None,
            "rss_peak_mb": report.get("rss_peak_mb"),
            "runs": report.get("runs"),
            **{k: report.get(k) for k in LATENCY_KEYS},
        }

    def to_json(self) -> dict[str, Any]:
        """Returns the agent's report plus `device_name` and `model`, or the error."""
        if self.report is not None:
            return {"device_name": self.device, "model_label": self.model, **self.report}
        return {
            "device_name": self.device,
            "model_label": self.model,
            "error": self.error,
            "hint": self.hint,
        }


def bench_device(
    device: Device,
    model: Path | None,
    settings: BenchSettings,
    connect: Callable[[Device], Transport],
    emit: EventCallback,
    cancel: CancelToken,
) -> BenchRow:
    """Benchmarks `model` (None: the active one) on `device`; returns its BenchRow."""
    from tfstudio.fleet.bench import bench_on

    label = model.name if model is not None else "active"
    transport = None
    try:
        cancel.raise_if_cancelled(f"{device.name}: bench")
        emit(StageStarted("bench", device.name, Stage.CONNECT, "connecting"))
        transport = connect(device)
        emit(StageStarted("bench", device.name, Stage.BENCH, "measuring latency on the device"))

        def tick(t: TransferProgress) -> None:
            emit(TransferTick("bench", device.name, t.done, t.total, t.rate_bps, t.eta_s))

        report = bench_on(device, transport, model, settings, progress=tick, cancel=cancel)
        if model is None:
            label = str((report.get("model") or {}).get("name") or label)
        return BenchRow(device.name, label, report, pushed_bytes=transport.bytes_sent)
    except TfStudioError as exc:
        message = (
            exc.message if exc.message.startswith(device.name) else f"{device.name}: {exc.message}"
        )
        return BenchRow(device.name, label, None, message, exc.hint)
    except Exception as exc:  # noqa: BLE001 - one device's bug must not stop the rest
        return BenchRow(device.name, label, None, f"{device.name}: {type(exc).__name__}: {exc}")
    finally:
        if transport is not None:
            transport.close()
