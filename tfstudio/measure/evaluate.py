"""On-device evaluation beside the host's figure, and the verdict on runtime drift.

The eval data goes to each device by hash (`datafiles`), the model too when
the device does not store it (`scratch/`, never installed), and the agent's
`eval` runs it with the device's own runtime. The host figure is the very
same agent code run here, in a child process (native code never runs in the
studio's own process), on the host's runtime: the data, the scoring and the
model are identical, so a difference is the runtime's. Without a runtime here
the figure recorded in the model's convert manifest stands in for it.

Drift: the device's accuracy (or agreement with the float reference) differs
from the host's by more than `tolerance`, or the two disagree on the top-1
class of more than `tolerance` of the samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfstudio.errors import TfStudioError
from tfstudio.fleet import fanout
from tfstudio.fleet.agentcall import AgentClient, AgentRefusal
from tfstudio.fleet.push import TransferProgress
from tfstudio.fleet.registry import Device
from tfstudio.measure.evaldata import EvalData, run_host
from tfstudio.operations import CancelToken
from tfstudio.transport.base import Transport

DEFAULT_TOLERANCE = 0.01
"""Accuracy points (0.01 = 1 %) and share of samples by which host and device may differ."""


@dataclass(frozen=True)
class EvalFigures:
    """The scores of one run: accuracy (labels) and agreement (float reference)."""

    source: str  # "device", "host" or "convert manifest"
    samples: int | None = None
    accuracy: float | None = None
    top1_agreement: float | None = None
    max_abs_error: float | None = None
    mean_abs_error: float | None = None
    runtime: str | None = None
    per_sample_ms: float | None = None
    loop_ms: float | None = None
    top1: tuple[int, ...] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, report: dict[str, Any], source: str) -> EvalFigures:
        """Builds the figures from an agent `eval` report."""
        runtime = report.get("runtime") or {}
        top1 = report.get("top1")
        return cls(
            source=source,
            samples=(report.get("data") or {}).get("samples"),
            accuracy=report.get("accuracy"),
            top1_agreement=report.get("top1_agreement"),
            max_abs_error=report.get("max_abs_error"),
            mean_abs_error=report.get("mean_abs_error"),
            runtime=f"{runtime.get('name', '')} {runtime.get('version', '')}".strip() or None,
            per_sample_ms=report.get("per_sample_ms"),
            loop_ms=report.get("loop_ms"),
            top1=tuple(top1) if isinstance(top1, list) else None,
        )

    @property
    def score(self) -> float | None:
        """Accuracy when labelled, else agreement with the float reference."""
        return self.accuracy if self.accuracy is not None else self.top1_agreement

    def to_json(self) -> dict[str, Any]:
        """Returns the figures (without the per-sample classes)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "top1"}


@dataclass(frozen=True)
class EvalOutcome:
    """One device's evaluation beside the host's, or the error that prevented it."""

    device: str
    model: str
    sha256: str | None
    data_sha256: str
    figures: EvalFigures | None = None
    host: EvalFigures | None = None
    host_agreement: float | None = None
    drift: bool | None = None
    drift_reasons: tuple[str, ...] = ()
    tolerance: float = DEFAULT_TOLERANCE
    error: str | None = None
    hint: str | None = None
    code: str | None = None
    bytes_sent: int = 0

    @property
    def ok(self) -> bool:
        """True when the device produced figures."""
        return self.figures is not None

    def to_json(self) -> dict[str, Any]:
        """Returns the outcome with nested figures as objects."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["figures"] = self.figures.to_json() if self.figures else None
        out["host"] = self.host.to_json() if self.host else None
        out["drift_reasons"] = list(self.drift_reasons)
        out["ok"] = self.ok
        return out


def host_figures(
    model: Path, data: EvalData, cancel: CancelToken | None = None
) -> tuple[EvalFigures | None, str | None]:
    """Returns the host's figures for `model` on `data` and, when there are none, why.

    The host's runtime first; without one, the convert manifest's metrics.
    """
    try:
        return EvalFigures.of(
            run_host(model, data.path, sha256=data.sha256, cancel=cancel), "host"
        ), None
    except AgentRefusal as exc:
        why = exc.message.removeprefix("host: ")
    manifest = _manifest_metrics(model)
    if manifest is not None:
        return manifest, None
    return None, why


def _manifest_metrics(model: Path) -> EvalFigures | None:
    import json

    from tfstudio.fleet.deploylog import find_manifest

    path = find_manifest(model)
    if path is None:
        return None
    try:
        metrics = (json.loads(path.read_text(encoding="utf-8")) or {}).get("metrics")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(metrics, dict) or metrics.get("accuracy") is None:
        return None
    return EvalFigures(
        source="convert manifest",
        samples=metrics.get("samples"),
        accuracy=metrics.get("accuracy"),
        top1_agreement=metrics.get("top1_agreement"),
    )


def compare(
    device: EvalFigures, host: EvalFigures | None, tolerance: float
) -> tuple[bool | None, tuple[str, ...], float | None]:
    """Returns (drift, reasons, share of samples with the same top-1 on host and device)."""
    if host is None:
        return None, (), None
    reasons = []
    agreement = None
    if device.top1 is not None and host.top1 is not None and len(device.top1) == len(host.top1):
        same = sum(a == b for a, b in zip(device.top1, host.top1))
        agreement = same / len(device.top1) if device.top1 else None
        if agreement is not None and 1 - agreement > tolerance:
            reasons.append(
                f"host and device disagree on the top-1 class of {len(device.top1) - same} "
                f"of {len(device.top1)} samples"
            )
    for name in ("accuracy", "top1_agreement"):
        mine, theirs = getattr(device, name), getattr(host, name)
        if mine is not None and theirs is not None and abs(mine - theirs) > tolerance:
            label = "accuracy" if name == "accuracy" else "agreement with the float model"
            reasons.append(
                f"{label} {mine:.4f} on the device vs {theirs:.4f} on the {host.source} "
                f"(tolerance {tolerance:g})"
            )
    return bool(reasons), tuple(reasons), agreement


AgentCall = Callable[[str, dict[str, Any], float], dict[str, Any]]
"""Runs an agent command that changes nothing: (command, session-style args, timeout) → answer."""

EVAL_TIMEOUT_S = 600.0


def eval_on(
    device: Device,
    transport: Transport,
    model: Path | None,
    data: EvalData,
    *,
    host: EvalFigures | None,
    tolerance: float = DEFAULT_TOLERANCE,
    progress: Callable[[TransferProgress], None] | None = None,
    cancel: CancelToken | None = None,
    call: AgentCall | None = None,
    model_ref: str | None = None,
) -> EvalOutcome:
    """Evaluates `model` (None: the active one) on `device`; returns the outcome.

    `call` runs the agent's `eval` (a deploy passes its session's, so the eval
    runs in the runtime child its validation started); by default a one-shot
    agent command on `transport`. `model_ref`: the agent's reference of
    `model` when the caller knows the device stores it (no check, no push).
    Raises AgentRefusal (runtime_too_old, bad_input...), TransportError,
    CancelledError.
    """
    from tfstudio.fleet.agentcall import oneshot_args
    from tfstudio.measure.bench import model_on_device
    from tfstudio.measure.datafiles import ensure_data, forget

    if call is None:
        client = AgentClient(device, transport, timeout=EVAL_TIMEOUT_S)

        def call(command: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
            words = oneshot_args(command, args)
            return client.call(command, *words, timeout=timeout, cancel=cancel)

    args: dict[str, Any] = {"with_top1": True, "data_sha": data.sha256}
    if model is not None:
        args["model_ref"] = model_ref or model_on_device(
            device, transport, model, progress=progress, cancel=cancel
        )
    for attempt in range(2):
        placed = ensure_data(
            transport, device, data.path, data.sha256, progress=progress, cancel=cancel
        )
        try:
            report = call("eval", {**args, "data_path": placed.remote_path}, EVAL_TIMEOUT_S)
            break
        except AgentRefusal as exc:
            if exc.code != "sha256_mismatch" or attempt:
                raise
            forget(transport, placed)  # a damaged copy: send it whole once more
    figures = EvalFigures.of(report, "device")
    drift, reasons, agreement = compare(figures, host, tolerance)
    model_info = report.get("model") or {}
    return EvalOutcome(
        device=device.name,
        model=model.name if model is not None else str(model_info.get("name")),
        sha256=model_info.get("sha256"),
        data_sha256=data.sha256,
        figures=figures,
        host=host,
        host_agreement=agreement,
        drift=drift,
        drift_reasons=reasons,
        tolerance=tolerance,
        bytes_sent=transport.bytes_sent,
    )


@dataclass(frozen=True)
class EvalRun:
    """An evaluation on several devices: the data, the host's figure and each device's."""

    model: Path | None
    data: EvalData
    host: EvalFigures | None
    host_missing: str | None
    outcomes: tuple[EvalOutcome, ...]

    def to_json(self) -> dict[str, Any]:
        """Returns the run as JSON-able data."""
        return {
            "model": str(self.model) if self.model else None,
            "data": self.data.to_json(),
            "host": self.host.to_json() if self.host else None,
            "host_missing": self.host_missing,
            "devices": [o.to_json() for o in self.outcomes],
        }


def eval_many(
    model: Path | None,
    data: EvalData,
    devices: Sequence[Device],
    *,
    connect: Callable[[Device], Transport],
    tolerance: float = DEFAULT_TOLERANCE,
    workers: int = 8,
    cancel: CancelToken | None = None,
) -> EvalRun:
    """Evaluates on every device (bounded pool) beside one host figure; logs each outcome.

    Never raises for a device's failure: its outcome carries the error.
    """
    from tfstudio.measure import log

    cancel = cancel or CancelToken()
    host, missing = host_figures(model, data, cancel) if model is not None else (None, None)

    def one(device: Device) -> EvalOutcome:
        label = model.name if model is not None else "active"
        transport = None
        try:
            transport = connect(device)
            outcome = eval_on(
                device, transport, model, data, host=host, tolerance=tolerance, cancel=cancel
            )
        except TfStudioError as exc:
            message = (
                exc.message
                if exc.message.startswith(device.name)
                else (f"{device.name}: {exc.message}")
            )
            code = exc.code if isinstance(exc, AgentRefusal) else None
            return EvalOutcome(
                device.name, label, None, data.sha256, host=host, error=message, hint=exc.hint,
                code=code, tolerance=tolerance,
            )  # fmt: skip
        finally:
            if transport is not None:
                transport.close()
        size = model.stat().st_size if model is not None else None
        log.append(log.EVALS, eval_entry(outcome, data, size_bytes=size))
        return outcome

    outcomes = fanout.run_all(
        list(devices),
        lambda i, d: one(d),
        workers=workers,
        cancel=cancel,
        abandon=lambda i, d: EvalOutcome(
            d.name, "", None, data.sha256, error=f"{d.name}: cancelled"
        ),
        name="eval",
    )
    return EvalRun(model, data, host, missing, tuple(outcomes))


def eval_entry(outcome: EvalOutcome, data: EvalData, **extra: Any) -> dict[str, Any]:
    """Returns the eval log's line for an outcome."""
    figures = outcome.figures
    return {
        "device": outcome.device,
        "model": outcome.model,
        "sha256": outcome.sha256,
        "data_sha256": data.sha256,
        "data": str(data.source),
        "samples": data.samples,
        "labelled": data.labelled,
        "device_figures": figures.to_json() if figures else None,
        "host": outcome.host.to_json() if outcome.host else None,
        "host_agreement": outcome.host_agreement,
        "drift": outcome.drift,
        "drift_reasons": list(outcome.drift_reasons),
        "runtime": figures.runtime if figures else None,
        **extra,
    }
