"""Following a job's log for a front end: lines in batches, and a stop that never waits.

`LogStream` wraps the training core's `LogFollower` (which reads the engine's
blocking stream in its own thread). A front end gets `on_lines` at most once
per `interval` with every line that arrived since, so a job that prints
thousands of lines a second does not flood a terminal UI with messages; it
gets `on_end` once when following ends by itself (the job ended: None; a
failure: the TfStudioError). `stop()` returns at once from any thread, the
UI's included: it closes the stream under the reader, and nothing is called
back after it. Several streams run side by side, one pair of threads each.

`follow_to_end` is the other way, for a command line: every line in order,
in the caller's thread's time, until the log ends or a cancel token is set.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tfstudio.errors import TfStudioError
    from tfstudio.operations import CancelToken
    from tfstudio.training.jobs import JobInfo
    from tfstudio.training.logs import Follower, LogLine

LinesCallback = Callable[[list[str]], object]
EndCallback = Callable[["TfStudioError | None"], object]

FLUSH_INTERVAL_S = 0.1
"""Least time between two batches: ten redraws a second reads as live."""
MAX_PENDING = 10_000
"""Lines kept between two batches; older ones are counted and dropped, so a
runaway job cannot grow the studio's memory while a front end is slow."""
CANCEL_POLL_S = 0.1
"""How often a blocking follow looks at its cancel token."""


class LogStream:
    """One followed job log. Made by `Training.follow`; `stop()` ends it from any thread."""

    def __init__(
        self,
        job: JobInfo,
        on_lines: LinesCallback,
        on_end: EndCallback | None = None,
        *,
        interval: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.job = job
        self.error: TfStudioError | None = None
        self._on_lines = on_lines
        self._on_end = on_end
        self._interval = interval
        self._pending: deque[str] = deque(maxlen=MAX_PENDING)
        self._dropped = 0
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._stopped = threading.Event()
        self._follower: Follower | None = None
        self._flusher = threading.Thread(
            target=self._flush_loop, name=f"tfstudio-logs-batch-{job.job_id}", daemon=True
        )

    @property
    def job_id(self) -> str:
        """The followed job's id."""
        return self.job.job_id

    def start(self, follower: Follower) -> LogStream:
        """Opens the log through `follower` (blocking: call it from a worker) and starts.

        Raises EngineError when the engine refuses the stream.
        """
        self._follower = follower
        follower.start()
        self._flusher.start()
        return self

    def line(self, line: LogLine) -> None:
        """The follower's `on_line`: keeps the line for the next batch."""
        with self._lock:
            if len(self._pending) == self._pending.maxlen:
                self._dropped += 1
            self._pending.append(line.text)

    def ended(self, error: TfStudioError | None) -> None:
        """The follower's `on_end`: the last batch and `on_end` follow."""
        self.error = error
        self._ended.set()

    @property
    def done(self) -> bool:
        """True once following has ended or was stopped."""
        return self._ended.is_set()

    @property
    def stopped(self) -> bool:
        """True once `stop()` was called."""
        return self._stopped.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until the last batch was delivered; returns True when it was."""
        if not self._flusher.is_alive() and not self._flusher.ident:
            return self._ended.wait(timeout)
        self._flusher.join(timeout)
        return not self._flusher.is_alive()

    def stop(self) -> None:
        """Ends following now without waiting; nothing is called back afterwards."""
        self._stopped.set()
        if self._follower is not None:
            # Closing the socket ends the blocked read; the reader thread finishes alone.
            self._follower.stop(timeout=0)
        self._ended.set()

    def _flush_loop(self) -> None:
        while not self._stopped.is_set():
            ended = self._ended.wait(self._interval)
            self._flush()
            if ended:
                break
        if not self._stopped.is_set() and self._on_end is not None:
            self._on_end(self.error)

    def _flush(self) -> None:
        with self._lock:
            if not self._pending and not self._dropped:
                return
            lines = list(self._pending)
            self._pending.clear()
            dropped, self._dropped = self._dropped, 0
        if dropped:
            lines.insert(
                0, f"[tfstudio: {dropped} lines skipped: the job printed faster than shown]"
            )
        if not self._stopped.is_set():
            self._on_lines(lines)


def follow_to_end(follower: Follower, cancel: CancelToken | None = None) -> bool:
    """Starts `follower` and waits in the caller's thread until the log ends or `cancel`.

    Every line reaches the follower's `on_line` in order, none batched or
    dropped (a command line prints them as they come). The wait wakes every
    `CANCEL_POLL_S`, so a token set from a signal handler (Ctrl-C) ends it at
    once; nothing blocks in a lock a KeyboardInterrupt could break. Returns
    True when the log ended, False when `cancel` stopped following. Raises
    EngineError when the stream cannot be opened or breaks.
    """
    try:
        follower.start()
        while not follower.wait(CANCEL_POLL_S):
            if cancel is not None and cancel.is_set():
                follower.stop()
                return False
    except BaseException:
        follower.stop(timeout=0)
        raise
    if follower.error is not None:
        raise follower.error
    return True
