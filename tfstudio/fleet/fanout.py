"""Run one job per device on a bounded pool that a cancel (or Ctrl-C) really stops.

Jobs run on daemon threads, so a job stuck on a device that stopped answering
can be left behind: after a cancel, each job gets `grace_s` to notice it, then
every job that `may_abandon` allows (one not in the middle of changing its
device) is given up and answered by `abandon(i)`. A second Ctrl-C gives up
the rest too. Ctrl-C (KeyboardInterrupt in the waiting thread) sets `cancel`,
so jobs see it at their next step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, cast

from tfstudio.operations import CancelToken

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_GRACE_S = 1.0


class _Slots(Generic[R]):
    """Results by index, filled once: by the job, or by abandoning it."""

    def __init__(self, n: int) -> None:
        self.values: list[R | None] = [None] * n
        self.filled = [False] * n
        self.changed = threading.Condition()

    def fill(self, i: int, value: R) -> bool:
        with self.changed:
            if self.filled[i]:
                return False
            self.values[i], self.filled[i] = value, True
            self.changed.notify_all()
            return True

    def pending(self) -> list[int]:
        with self.changed:
            return [i for i, done in enumerate(self.filled) if not done]


def run_all(
    items: Sequence[T],
    job: Callable[[int, T], R],
    *,
    workers: int,
    cancel: CancelToken,
    abandon: Callable[[int, T], R],
    may_abandon: Callable[[int], bool] = lambda i: True,
    on_interrupt: Callable[[int], None] | None = None,
    grace_s: float = DEFAULT_GRACE_S,
    name: str = "job",
) -> list[R]:
    """Runs `job(i, item)` for every item, `workers` at a time; returns results in order.

    `on_interrupt(n)` is told of the n-th Ctrl-C. Never raises KeyboardInterrupt.
    """
    slots: _Slots[R] = _Slots(len(items))
    queue = list(range(len(items)))
    queue_lock = threading.Lock()

    def worker() -> None:
        while True:
            with queue_lock:
                if not queue:
                    return
                i = queue.pop(0)
            slots.fill(i, job(i, items[i]))

    for n in range(max(1, min(workers, len(items)))):
        threading.Thread(target=worker, name=f"{name}-{n}", daemon=True).start()
    interrupts = 0
    cancelled_at: float | None = None
    while True:
        pending = slots.pending()
        if not pending:
            break
        try:
            with slots.changed:
                slots.changed.wait(0.1)
        except KeyboardInterrupt:
            interrupts += 1
            cancel.set()
            if on_interrupt is not None:
                on_interrupt(interrupts)
        if not cancel.is_set():
            continue
        now = time.monotonic()
        cancelled_at = cancelled_at if cancelled_at is not None else now
        if now - cancelled_at < grace_s and interrupts < 2:
            continue
        for i in slots.pending():
            if interrupts >= 2 or may_abandon(i):
                slots.fill(i, abandon(i, items[i]))
    return [cast(R, v) for v in slots.values]
