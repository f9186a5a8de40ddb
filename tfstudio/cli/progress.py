"""The CLI's progress display for long operations, fed by the facade's events.

It takes the one contract of `tfstudio.operations` (StageStarted, TransferTick,
TargetFinished) and draws it on stderr: on a terminal, a `rich` progress bar
per target (bytes, rate, time left) with each stage printed above the bars;
anywhere else, plain lines a log keeps: one per stage, and a transfer line at
most every 2 s per target plus the last one
(`dev: [########....] 100% 1.2 MiB/1.2 MiB 30.1 MiB/s ETA 0s`).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Collection
from types import TracebackType
from typing import IO, Any

from tfstudio.formatting import human_bytes
from tfstudio.operations import Event, Stage, StageStarted, TargetFinished, TransferTick

PLAIN_TICK_EVERY_S = 2.0
"""Least time between two transfer lines of one target in plain output."""
BAR_WIDTH = 24


class EventPrinter:
    """Prints operation events to `stream` (stderr); use it as a context manager.

    Thread-safe: a fan-out's workers call it at once. `enabled=False` (e.g.
    under --json) prints nothing; `plain=False` prints nothing when `stream` is
    not a terminal (commands whose logs never carried progress lines);
    `stages` limits the stage lines to those stages (transfers always show);
    a stage in `bare` prints its message alone (a build's own output).
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        enabled: bool = True,
        plain: bool = True,
        stages: Collection[Stage] | None = None,
        bare: Collection[Stage] = (),
    ) -> None:
        self.stream = stream or sys.stderr
        self.stages = stages
        self.bare = bare
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled and (plain or self.tty)
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> EventPrinter:
        if self.enabled and self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                DownloadColumn(binary_units=True),
                TextColumn("{task.fields[rate]}"),  # the core's rate: rich's own needs
                TextColumn("ETA {task.fields[eta]}"),  # several samples a fast push lacks
                console=Console(file=self.stream, highlight=False),
                transient=True,
            )
            self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, event: Event) -> None:
        if not self.enabled:
            return
        with self._lock:
            if isinstance(event, TransferTick):
                self._tick(event)
            elif isinstance(event, StageStarted):
                shown = self.stages is None or event.stage in self.stages
                if event.stage in self.bare:
                    self._line(event.message)
                elif shown and event.stage is not Stage.DONE and event.message:
                    self._line(f"{event.target or 'tfstudio'}: {event.message}")
            elif isinstance(event, TargetFinished) and self._progress is not None:
                task = self._tasks.pop(event.target, None)
                if task is not None:
                    self._progress.remove_task(task)

    def _tick(self, tick: TransferTick) -> None:
        if self._progress is not None:
            fields = {"rate": f"{human_bytes(tick.rate_bps)}/s", "eta": _eta(tick)}
            task = self._tasks.get(tick.target)
            if task is None:
                task = self._tasks[tick.target] = self._progress.add_task(
                    tick.target, total=tick.total or 1, **fields
                )
            self._progress.update(task, completed=tick.done, total=tick.total or 1, **fields)
            if tick.done >= tick.total:
                # Done moving bytes: the bar gives way to one line; the stages go on.
                self._progress.remove_task(self._tasks.pop(tick.target))
                self._line(
                    f"{tick.target}: sent {human_bytes(tick.total)} at "
                    f"{human_bytes(tick.rate_bps)}/s"
                )
            return
        now = time.monotonic()
        finished = tick.done >= tick.total
        if not finished and now - self._last.get(tick.target, -1e9) < PLAIN_TICK_EVERY_S:
            return
        self._last[tick.target] = now
        self._line(transfer_line(tick))

    def _line(self, text: str) -> None:
        if self._progress is not None:
            from rich.text import Text

            self._progress.console.print(Text(text))
            return
        self.stream.write(text + "\n")
        self.stream.flush()


def transfer_line(tick: TransferTick) -> str:
    """Returns one transfer tick as a line: bar, percent, bytes, rate and ETA."""
    filled = int(BAR_WIDTH * tick.fraction)
    eta = _eta(tick)
    return (
        f"{tick.target}: [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
        f"{tick.fraction * 100:3.0f}% {human_bytes(tick.done)}/{human_bytes(tick.total)} "
        f"{human_bytes(tick.rate_bps)}/s ETA {eta}"
    )


def _eta(tick: TransferTick) -> str:
    return f"{tick.eta_s:.0f}s" if tick.eta_s is not None else "?"
