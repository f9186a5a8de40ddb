"""The one contract of every long operation the studio runs (convert, deploy, bench, ...).

A caller passes `on_event` (any callable taking an `Event`) and a `CancelToken`;
the operation returns a typed result with `to_json()`. Events are small frozen
values: `StageStarted` when a target (a device, a quantization mode) enters a
`Stage`, `TransferTick` while bytes move (throttled here, in the core, so no
front end is flooded), and `TargetFinished` when a target is done. The CLI
prints them; the TUI posts them as messages (`post_message` is thread-safe).

Nothing here imports a front end or a heavy library.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar, Union

from tfstudio.errors import CancelledError


class Stage(str, Enum):
    """Where one target of an operation is; the value is what a user reads."""

    QUEUED = "queued"
    TRAIN = "train"
    LOAD = "load"
    CONVERT = "convert"
    VERIFY = "verify"
    EVALUATE = "evaluate"
    CONNECT = "connect"
    LOCK = "lock"
    PREFLIGHT = "preflight"
    PUSH = "push"
    INSTALL = "install"
    BENCH = "bench"
    EVAL = "eval"
    ROLLBACK = "rollback"
    PRUNE = "prune"
    CHECK = "check"
    # Rollouts: a wave (target "wave N") is deployed, gated, soaked, rolled back.
    DEPLOY = "deploy"
    GATE = "gate"
    SOAK = "soak"
    # Training containers (the training core's stages, by the same values).
    POLICY = "policy"
    RESOLVE = "resolve"
    PULL = "pull"
    BUILD = "build"
    CREATE = "create"
    START = "start"
    RUNNING = "running"
    STOP = "stop"
    FINALIZE = "finalize"
    CANCEL = "cancel"
    """The whole operation is being cancelled (target "")."""
    DONE = "done"


@dataclass(frozen=True)
class StageStarted:
    """`target` entered `stage`; `index`/`total` count targets when known (1-based)."""

    operation: str
    target: str
    stage: Stage
    message: str = ""
    index: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class TransferProgress:
    """Bytes moved by one transfer: `done` of `total`, at `rate_bps`, `eta_s` left.

    What a transfer (fleet.push, an image pull) reports; a `TransferTick` is one
    of these for a named target of an operation.
    """

    done: int
    total: int
    rate_bps: float
    eta_s: float | None

    @property
    def fraction(self) -> float:
        """Done over total (1.0 for an empty file)."""
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class TransferTick:
    """Bytes moved for `target`: `done` of `total`, at `rate_bps`, `eta_s` left."""

    operation: str
    target: str
    done: int
    total: int
    rate_bps: float
    eta_s: float | None

    @classmethod
    def of(cls, operation: str, target: str, progress: TransferProgress) -> TransferTick:
        """Returns `progress` as the tick of `target` in `operation`."""
        return cls(operation, target, progress.done, progress.total, progress.rate_bps,
                   progress.eta_s)  # fmt: skip

    @property
    def progress(self) -> TransferProgress:
        """The transfer's numbers without the operation and target."""
        return TransferProgress(self.done, self.total, self.rate_bps, self.eta_s)

    @property
    def fraction(self) -> float:
        """Done over total (1.0 for an empty file)."""
        return self.progress.fraction


@dataclass(frozen=True)
class TargetFinished:
    """`target` is done: `ok` or not, with a one-line `message` and result fields."""

    operation: str
    target: str
    ok: bool
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


Event = Union[StageStarted, TransferTick, TargetFinished]
"""Anything an `on_event` callback receives."""

EventCallback = Callable[[Event], object]
"""What `on_event` is: any callable; its return value is ignored."""


class CancelToken(threading.Event):
    """The one cancel token: set it (from any thread) to stop an operation early.

    It is a `threading.Event`, so the core's stages that take an Event or an
    `is_set()` flag accept it unchanged. Operations stop at their next safe
    point (between modes, between upload blocks, before an install) and raise
    or report `cancelled`; nothing half-done is activated.
    """

    def cancel(self) -> None:
        """Asks the operation to stop."""
        self.set()

    @property
    def cancelled(self) -> bool:
        """True once `cancel()` was called."""
        return self.is_set()

    def raise_if_cancelled(self, what: str) -> None:
        """Raises CancelledError naming `what` when the token is set."""
        if self.is_set():
            raise CancelledError(f"{what} cancelled")


def check_cancelled(cancel: CancelToken | None, what: str) -> None:
    """Raises CancelledError naming `what` when `cancel` is given and set."""
    if cancel is not None:
        cancel.raise_if_cancelled(what)


TICK_INTERVAL_S = 0.1
"""Least time between two transfer ticks of one target that reach the caller:
ten redraws a second is smooth to a reader and nothing to a terminal."""


class Throttle:
    """Wraps an event callback so that each target's TransferTicks arrive at most
    every `interval` seconds; the first and the last tick always pass, and other
    events always pass. Thread-safe: fan-out workers share one."""

    def __init__(
        self,
        callback: EventCallback | None,
        interval: float = TICK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self._interval = interval
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if self._callback is None:
            return
        if isinstance(event, TransferTick):
            key = (event.operation, event.target)
            now = self._clock()
            last_tick = event.done >= event.total
            with self._lock:
                previous = self._last.get(key)
                if previous is not None and not last_tick and now - previous < self._interval:
                    return
                self._last[key] = now
        self._callback(event)


class Reporter:
    """One target's voice in one operation: what a core calls to emit the contract's events.

    A core that works on one target (a job, an image) takes a Reporter; one that works on
    many (the modes of a conversion, the devices of a deploy) takes `on_event` and makes a
    Reporter per target with `Reporter(operation, target, on_event)`. Transfers that know
    only their byte counts (an image pull) get a rate and an ETA measured from the first
    tick. Without a callback every call does nothing.
    """

    def __init__(self, operation: str, target: str, on_event: EventCallback | None) -> None:
        self.operation = operation
        self.target = target
        self.on_event = on_event
        self._first_tick: float | None = None

    def stage(
        self, stage: Stage, message: str = "", index: int | None = None, total: int | None = None
    ) -> None:
        """Emits StageStarted: the target entered `stage`."""
        if self.on_event is not None:
            self.on_event(StageStarted(self.operation, self.target, stage, message, index, total))

    def tick(self, progress: TransferProgress) -> None:
        """Emits a TransferTick of `progress`."""
        if self.on_event is not None:
            self.on_event(TransferTick.of(self.operation, self.target, progress))

    def transferred(self, done: int, total: int) -> None:
        """Emits a TransferTick of `done` of `total` bytes, its rate since the first one."""
        if self.on_event is None:
            return
        now = time.monotonic()
        if self._first_tick is None:
            self._first_tick = now
        elapsed = now - self._first_tick
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate else None
        self.tick(TransferProgress(done, total, rate, eta))

    def finished(self, ok: bool, message: str = "", data: dict[str, Any] | None = None) -> None:
        """Emits TargetFinished: the target is done, well or not."""
        if self.on_event is not None:
            self.on_event(TargetFinished(self.operation, self.target, ok, message, data or {}))


SILENT = Reporter("", "", None)
"""The reporter of a caller that listens to nothing (a core's default)."""


class JsonResult(Protocol):
    """What every operation returns: a typed value that serialises itself."""

    def to_json(self) -> Any:
        """Returns a JSON-able value."""
        ...


class Outcome(Protocol):
    """One target's result inside a fan-out (a DeployResult, a BenchRow, ...)."""

    @property
    def device(self) -> str:
        """The device's name."""
        ...

    @property
    def ok(self) -> bool:
        """True when the target ended well."""
        ...

    def to_json(self) -> dict[str, Any]:
        """Returns a JSON-able dict."""
        ...


T = TypeVar("T", bound=Outcome)


@dataclass(frozen=True)
class FleetResult(Generic[T]):
    """The per-device outcomes of one fan-out operation, in device order."""

    operation: str
    outcomes: tuple[T, ...]

    def __iter__(self) -> Iterator[T]:
        return iter(self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)

    @property
    def ok(self) -> bool:
        """True when every device ended well."""
        return all(o.ok for o in self.outcomes)

    @property
    def failed(self) -> list[str]:
        """Names of the devices that did not end well."""
        return [o.device for o in self.outcomes if not o.ok]

    def outcome(self, device: str) -> T:
        """Returns the outcome of `device`. Raises KeyError."""
        for o in self.outcomes:
            if o.device == device:
                return o
        raise KeyError(device)

    def to_json(self) -> list[dict[str, Any]]:
        """Returns one JSON object per device."""
        return [o.to_json() for o in self.outcomes]


def fleet_result(operation: str, outcomes: Sequence[T]) -> FleetResult[T]:
    """Returns a FleetResult of `outcomes`."""
    return FleetResult(operation, tuple(outcomes))
