"""Adapters from the cores' older progress contracts to the one of `tfstudio.operations`.

The convert core reports `progress=` events (ModeStarted, ModeFinished,
ModeFailed), the fleet's deploy reports `on_event=` with string stages and
transfer ticks, and the training core `TrainingEvent`s (a stage, or a pull's
bytes); the facade hands all three to front ends as `StageStarted`,
`TransferTick` and `TargetFinished`. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.operations import EventCallback, Stage, StageStarted, TargetFinished, TransferTick

if TYPE_CHECKING:
    from tfstudio.training.events import TrainingEvent


def convert_events(emit: EventCallback, operation: str) -> Any:
    """Returns a convert `progress=` callback that speaks the one contract.

    A mode that failed ends its target with `ok=False` and the mode's one-line
    error (the other modes go on), so a front end marks that row failed at once.
    """
    from tfstudio.convert.events import ModeFailed, ModeFinished, ModeStarted

    def progress(event: object) -> None:
        if isinstance(event, ModeStarted):
            emit(
                StageStarted(
                    operation,
                    event.mode,
                    Stage.CONVERT,
                    f"converting {event.mode}",
                    event.index,
                    event.total,
                )
            )
        elif isinstance(event, ModeFinished):
            emit(
                TargetFinished(
                    operation,
                    event.mode,
                    True,
                    f"wrote {Path(event.path).name}",
                    {"path": event.path, "size_bytes": event.size_bytes, "seconds": event.seconds},
                )
            )
        elif isinstance(event, ModeFailed):
            emit(
                TargetFinished(
                    operation,
                    event.mode,
                    False,
                    event.error,
                    {"mode": event.mode, "status": "failed", "error": event.error},
                )
            )

    return progress


DEPLOY_STAGES = {
    "connect": Stage.CONNECT,
    "lock": Stage.LOCK,
    "info": Stage.PREFLIGHT,
    "push": Stage.PUSH,
    "install": Stage.INSTALL,
    "bench": Stage.BENCH,
    "eval": Stage.EVAL,
    "rollback": Stage.ROLLBACK,
    "prune": Stage.PRUNE,
    "done": Stage.DONE,
}
"""The fleet's deploy stages by name; an unknown one reads as DONE."""


def deploy_events(emit: EventCallback, operation: str = "deploy") -> Any:
    """Returns a deploy `on_event=` callback that speaks the one contract."""

    def on_event(event: Any) -> None:
        if event.transfer is not None:
            emit(TransferTick.of(operation, event.device, event.transfer))
            return
        stage = DEPLOY_STAGES.get(event.stage, Stage.DONE)
        emit(StageStarted(operation, event.device, stage, event.message))

    return on_event


def training_events(
    emit: EventCallback, operation: str, target: str
) -> Callable[[TrainingEvent], None]:
    """Returns a training core `on_event` that speaks the one contract (pull bytes as ticks)."""
    first: list[float] = []

    def on_event(event: TrainingEvent) -> None:
        if event.total:
            now = time.monotonic()
            first[:1] = first[:1] or [now]
            done = event.current or 0
            rate = done / (now - first[0]) if now > first[0] else 0.0
            eta = (event.total - done) / rate if rate else None
            emit(TransferTick(operation, target, done, event.total, rate, eta))
            return
        try:
            stage = Stage(event.stage.value)
        except ValueError:
            stage = Stage.DONE
        emit(StageStarted(operation, target, stage, event.message))

    return on_event
