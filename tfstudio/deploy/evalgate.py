"""The deploy health gate's eval step: evaluate the newly active model on the device.

`deploy --eval-data FILE [--min-accuracy X]` prepares the data once (before
any device is touched, so bad data costs nothing), and after activation each
device evaluates its new model on it. Below `min_accuracy` (the accuracy with
labels, else the agreement with the float model) the gate fails and the
deploy rolls back. Runtime drift against the host is reported, not gated.
The host's figure is computed once per model and data, however many devices.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.fleet.push import TransferProgress
from tfstudio.fleet.registry import Device
from tfstudio.measure.evaldata import EvalData
from tfstudio.measure.evaluate import (
    DEFAULT_TOLERANCE,
    AgentCall,
    EvalFigures,
    eval_entry,
    eval_on,
    host_figures,
)
from tfstudio.operations import CancelToken
from tfstudio.transport.base import Transport


@dataclass(frozen=True)
class EvalGate:
    """What the gate evaluates on and the least score it lets through."""

    data: EvalData
    min_accuracy: float | None = None
    tolerance: float = DEFAULT_TOLERANCE


_HOST: dict[tuple[str, str], EvalFigures | None] = {}
_HOST_LOCK = threading.Lock()


def _host(model: Path, gate: EvalGate, cancel: CancelToken | None) -> EvalFigures | None:
    from tfstudio.digest import file_sha256

    key = (file_sha256(model), gate.data.sha256)
    with _HOST_LOCK:  # one host run, however many devices ask at once
        if key not in _HOST:
            _HOST[key] = host_figures(model, gate.data, cancel)[0]
        return _HOST[key]


def gate_eval(
    device: Device,
    transport: Transport,
    model: Path,
    gate: EvalGate,
    *,
    progress: Callable[[TransferProgress], None] | None = None,
    cancel: CancelToken | None = None,
    call: AgentCall | None = None,
    model_ref: str | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Evaluates `model` (now stored and active) on `device`; returns (summary, failure).

    `call` and `model_ref` as for `measure.evaluate.eval_on` (a deploy passes
    its session's call and the model's sha). `failure` is the gate's reason to
    roll back, or None. Raises AgentRefusal, TransportError, CancelledError
    (the gate treats them as a failed eval).
    """
    from tfstudio.measure import log

    host = _host(model, gate, cancel)
    outcome = eval_on(
        device,
        transport,
        model,
        gate.data,
        host=host,
        tolerance=gate.tolerance,
        progress=progress,
        cancel=cancel,
        call=call,
        model_ref=model_ref,
    )
    entry = eval_entry(outcome, gate.data, via="deploy", size_bytes=model.stat().st_size)
    log.append(log.EVALS, entry)
    figures = outcome.figures
    assert figures is not None  # eval_on returns figures or raises
    summary = {
        "samples": figures.samples,
        "accuracy": figures.accuracy,
        "top1_agreement": figures.top1_agreement,
        "host": host.to_json() if host else None,
        "drift": outcome.drift,
        "drift_reasons": list(outcome.drift_reasons),
        "min_accuracy": gate.min_accuracy,
    }
    score = figures.score
    if gate.min_accuracy is not None and (score is None or score < gate.min_accuracy):
        what = "accuracy" if figures.accuracy is not None else "agreement with the float model"
        shown = "none" if score is None else f"{score:.4f}"
        limit = f"--min-accuracy {gate.min_accuracy:g}"
        return summary, f"{what} {shown} on the device is below {limit}"
    return summary, None
