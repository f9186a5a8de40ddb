"""The contract of long training operations: typed events, one stage enum, a cancel token.

`launch`, `pull` and `build` take `on_event` (called from the worker thread
that runs them; a TUI posts each event as a message) and `cancel` (anything
with `is_set()`, such as `threading.Event`), checked between steps. Events
are small frozen values; the core never prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from tfstudio.errors import CancelledError


class Stage(str, Enum):
    """Where a long training operation is."""

    POLICY = "policy"
    CONNECT = "connect"
    RESOLVE = "resolve"
    PULL = "pull"
    BUILD = "build"
    CREATE = "create"
    START = "start"
    RUNNING = "running"
    FINALIZE = "finalize"
    DONE = "done"


@dataclass(frozen=True)
class TrainingEvent:
    """One step of a long operation: its stage, a one-line message, optional progress.

    `current`/`total` are bytes for a pull (None when the engine does not say).
    """

    stage: Stage
    message: str
    current: int | None = None
    total: int | None = None


class CancelToken(Protocol):
    """Anything with `is_set()`, such as `threading.Event`."""

    def is_set(self) -> bool: ...


EventCallback = Callable[[TrainingEvent], None]


def emit(on_event: EventCallback | None, stage: Stage, message: str, **progress: int) -> None:
    """Calls `on_event` with a TrainingEvent when a callback was given."""
    if on_event is not None:
        on_event(TrainingEvent(stage, message, progress.get("current"), progress.get("total")))


def check_cancel(cancel: CancelToken | None, what: str) -> None:
    """Raises CancelledError naming `what` when `cancel` is set."""
    if cancel is not None and cancel.is_set():
        raise CancelledError(f"{what} cancelled")
