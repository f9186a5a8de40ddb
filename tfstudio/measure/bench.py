"""Remote benchmarks: run the agent's bench on devices and bring the reports back.

A model that the device does not store is pushed to `scratch/` first and
benchmarked from there; it is never installed or activated. `--active`
benchmarks whatever the device serves. Real inputs (`inputs`) go to the
device's `data/` like eval data, kept by hash. Several thread counts run as
one sweep in one agent process, which marks the fastest. Every report is
appended to the studio's bench log (`measure.log`), which `report` reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.digest import file_sha256
from tfstudio.errors import CancelledError, TfStudioError
from tfstudio.fleet import fanout
from tfstudio.fleet.agentcall import AgentClient, oneshot_args
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.push import push
from tfstudio.fleet.registry import Device
from tfstudio.operations import (
    CancelToken,
    EventCallback,
    Stage,
    StageStarted,
    TransferProgress,
    TransferTick,
)
from tfstudio.transport.base import Transport


@dataclass(frozen=True)
class BenchSettings:
    """The agent bench's knobs; None leaves the agent's default."""

    runs: int | None = None
    warmup: int | None = None
    threads: int | None = None
    min_seconds: float | None = None
    warmup_min_seconds: float | None = None
    thread_counts: tuple[int, ...] = ()
    """Several counts: one sweep (overrides `threads`)."""
    profile_ops: bool = False


def bench_args(settings: BenchSettings) -> list[str]:
    """Returns the agent `bench` options for `settings` (one-shot command words)."""
    return oneshot_args("bench", bench_kwargs(settings))


def bench_kwargs(settings: BenchSettings) -> dict[str, Any]:
    """Returns the agent `bench` arguments for `settings` (a session request's args).

    Several `thread_counts` are one sweep: `threads` is then "1,2,4", which the
    agent's command line and its session both take.
    """
    threads: int | str | None = settings.threads
    if settings.thread_counts:
        threads = ",".join(str(t) for t in settings.thread_counts)
    values: dict[str, Any] = {
        "runs": settings.runs,
        "warmup": settings.warmup,
        "threads": threads,
        "min_seconds": settings.min_seconds,
        "warmup_min_seconds": settings.warmup_min_seconds,
        "profile_ops": settings.profile_ops or None,
    }
    return {k: v for k, v in values.items() if v is not None}


def is_stored(transport: Transport, device: Device, sha256: str) -> bool:
    """Returns True when the device's agent store already holds `sha256`.

    One stat of `models/<sha256>/model.tflite` (the agent's store layout), far
    cheaper than starting the agent for `list`. The agent re-verifies on activate.
    """
    return transport.stat_size(device.remote("models", sha256, "model.tflite")) is not None


@dataclass(frozen=True)
class BenchOutcome:
    """One device's bench: the agent's report, or the error that prevented it."""

    device: str
    report: dict[str, Any] | None
    error: str | None = None
    hint: str | None = None
    pushed_bytes: int = 0

    @property
    def runs(self) -> list[dict[str, Any]]:
        """The bench reports: one, or one per thread count of a sweep."""
        if self.report is None:
            return []
        return list(self.report["sweep"]) if "sweep" in self.report else [self.report]

    def to_json(self) -> dict[str, Any]:
        """Returns the agent's report plus `device_name`, or `{device_name, error, hint}`.

        The report's own `device` key is the agent's `info` of the device; a
        sweep's report is `{sweep: [report...], fastest_threads, by}`.
        """
        if self.report is not None:
            return {"device_name": self.device, **self.report}
        return {"device_name": self.device, "error": self.error, "hint": self.hint}


def model_on_device(
    device: Device,
    transport: Transport,
    model: Path,
    *,
    progress: Callable[[TransferProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> str:
    """Returns the agent's `--model` value for `model`: its sha when the device stores it,
    else a copy pushed to `scratch/` (never installed). Raises TransportError."""
    sha = file_sha256(model)
    if is_stored(transport, device, sha):
        return sha
    scratch = device.remote("scratch")
    target = f"{scratch}/{sha}.tflite"
    if transport.stat_size(target) != model.stat().st_size:
        pushed = push(transport, model, scratch, sha, progress=progress, cancel=cancel)
        transport.rename(pushed.remote_path, target)
    return target


def bench_on(
    device: Device,
    transport: Transport,
    model: Path | None,
    settings: BenchSettings,
    *,
    inputs: Path | None = None,
    progress: Callable[[TransferProgress], None] | None = None,
    cancel: CancelToken | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Returns the agent's bench report for `model` (None: the active model) on `device`.

    `inputs`: a .npy/.npz of real inputs, put on the device by hash first. With
    several `settings.thread_counts` the report is a sweep. Raises AgentError /
    TransportError.
    """
    from tfstudio.measure.datafiles import ensure_data

    client = AgentClient(device, transport, timeout=timeout)
    args = bench_kwargs(settings)
    if inputs is not None:
        placed = ensure_data(transport, device, inputs, progress=progress, cancel=cancel)
        args.update(input_kind=placed.remote_path, input_sha=placed.sha256)
    if model is not None:
        ref = model_on_device(device, transport, model, progress=progress, cancel=cancel)
        args["model_ref"] = ref
    return client.call("bench", *oneshot_args("bench", args), cancel=cancel)


def bench_many(
    devices: Sequence[Device],
    model: Path | None,
    settings: BenchSettings,
    *,
    inputs: Path | None = None,
    workers: int = 8,
    connect: Callable[[Device], Transport] | None = None,
    cancel: CancelToken | None = None,
    on_event: EventCallback | None = None,
) -> list[BenchOutcome]:
    """Benchmarks on every device (bounded pool); returns outcomes in device order.

    `connect` opens a device's transport (default: `open_transport`).
    `on_event` hears each device's stages (connect, bench) and transfer ticks
    (a model or inputs pushed first), in the `tfstudio.operations` contract.
    Each report is appended to the studio's bench log.
    """
    opener = connect or open_transport
    emit = on_event or (lambda event: None)

    def one(device: Device) -> BenchOutcome:
        transport = None

        def tick(t: TransferProgress) -> None:
            emit(TransferTick.of("bench", device.name, t))

        try:
            if cancel is not None and cancel.is_set():
                raise CancelledError(f"{device.name}: cancelled")
            emit(StageStarted("bench", device.name, Stage.CONNECT, "connecting"))
            transport = opener(device)
            emit(StageStarted("bench", device.name, Stage.BENCH, "measuring latency"))
            report = bench_on(
                device, transport, model, settings, inputs=inputs, progress=tick, cancel=cancel
            )
            outcome = BenchOutcome(device.name, report, pushed_bytes=transport.bytes_sent)
            _log(outcome, model)
            return outcome
        except TfStudioError as exc:
            message = (
                exc.message
                if exc.message.startswith(device.name)
                else (f"{device.name}: {exc.message}")
            )
            return BenchOutcome(device.name, None, message, exc.hint)
        except Exception as exc:  # noqa: BLE001 - one device's bug must not stop the rest
            return BenchOutcome(device.name, None, f"{device.name}: {type(exc).__name__}: {exc}")
        finally:
            if transport is not None:
                transport.close()

    return fanout.run_all(
        devices,
        lambda i, d: one(d),
        workers=workers,
        cancel=cancel or CancelToken(),
        abandon=lambda i, d: BenchOutcome(d.name, None, f"{d.name}: cancelled"),
        name="bench",
    )


def _log(outcome: BenchOutcome, model: Path | None) -> None:
    """Appends each report of `outcome` to the bench log (a sweep's under one id)."""
    import uuid

    from tfstudio.measure import log

    runs = outcome.runs
    sweep = uuid.uuid4().hex[:12] if len(runs) > 1 else None
    label = model.name if model is not None else None
    size = model.stat().st_size if model is not None else None
    for report in runs:
        entry = log.bench_entry(outcome.device, report, label=label, sweep=sweep, size_bytes=size)
        log.append(log.BENCH, entry)
