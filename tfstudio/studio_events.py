"""Adapters from the cores' older progress contracts to the one of `tfstudio.operations`.

The convert core reports `progress=` events (ModeStarted, ModeFinished,
ModeFailed) and the fleet's deploy reports `on_event=` with string stages and
transfer ticks; the facade hands both to front ends as `StageStarted`,
`TransferTick` and `TargetFinished`. Nothing heavy is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfstudio.operations import EventCallback, Stage, StageStarted, TargetFinished, TransferTick


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
