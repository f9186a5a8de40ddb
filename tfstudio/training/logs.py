"""A job's log: read it once, or follow it in a cancellable worker thread.

The Docker SDK's log stream blocks in a socket read until the engine sends a
line or the container ends. `LogFollower` runs that read in its own thread and
hands each complete line to `on_line`; `stop()` (from any thread) closes the
socket underneath, which ends the read at once, so a terminal UI can follow
several jobs and drop any of them without waiting. Following ends by itself
when the job ends.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from tfstudio.errors import TfStudioError
from tfstudio.training.client import EngineClient, translate
from tfstudio.training.jobs import JobInfo

LineCallback = Callable[["LogLine"], None]


class Follower(Protocol):
    """What follows a log: `LogFollower` (one container) and `GroupLogFollower` (workers)."""

    error: TfStudioError | None

    def start(self) -> Follower:
        """Opens the stream(s) and starts following; returns self."""
        ...

    @property
    def done(self) -> bool:
        """True once following has ended."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the end of following; True when it has ended."""
        ...

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ends following now, from any thread."""
        ...


@dataclass(frozen=True)
class LogLine:
    """One line of a job's output (without its newline)."""

    job_id: str
    text: str


def read_logs(client: EngineClient, job: JobInfo, *, tail: int | None = None) -> list[str]:
    """Returns the job's log lines so far (the last `tail` ones when given), each cut at
    MAX_LINE_BYTES. Raises EngineError.
    """
    with client.call(f"reading logs of job {job.job_id}"):
        raw = client.api.logs(job.container_id, tail=tail if tail is not None else "all")
    return list(_lines([raw]))


class LogFollower:
    """Follows one job's log in a daemon thread until the job ends or `stop()` is called.

    `on_line` is called in the worker thread for each line; `on_end` once at
    the end with None, or with the TfStudioError that ended it. Lines that
    arrive after `stop()` are dropped. `stream` is an output stream already
    open (`LaunchResult.output`); without one, `start()` opens the log.
    """

    def __init__(
        self,
        client: EngineClient,
        job: JobInfo,
        on_line: LineCallback,
        *,
        tail: int | None = None,
        on_end: Callable[[TfStudioError | None], None] | None = None,
        stream: Any = None,
    ) -> None:
        self.client = client
        self.job = job
        self._on_line = on_line
        self._on_end = on_end
        self._tail = tail
        self._stream: Any = stream
        self._stopped = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self.error: TfStudioError | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"tfstudio-logs-{job.job_id}", daemon=True
        )

    def start(self) -> LogFollower:
        """Opens the stream (unless given) and starts the worker; returns self.

        Raises EngineError.
        """
        if self._stream is None:
            self._open()
        self._thread.start()
        return self

    def _open(self) -> None:
        with self.client.call(f"following logs of job {self.job.job_id}"):
            self._stream = self.client.api.logs(
                self.job.container_id,
                stream=True,
                follow=True,
                tail=self._tail if self._tail is not None else "all",
            )

    @property
    def done(self) -> bool:
        """True once following has ended (job ended, stopped, or failed)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the end of following; returns True when it has ended."""
        return self._done.wait(timeout)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ends following now, from any thread, and waits (up to `timeout`) for the worker."""
        self._stopped.set()
        with self._lock:
            if self._stream is not None:
                close_stream(self._stream)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        error: TfStudioError | None = None
        try:
            for line in _lines(self._stream):
                if self._stopped.is_set():
                    break
                self._on_line(LogLine(self.job.job_id, line))
        except Exception as exc:  # noqa: BLE001 - reported through on_end, never raised in a thread
            if not self._stopped.is_set():
                error = translate(
                    exc, self.client.engine, f"following logs of job {self.job.job_id}"
                )
        finally:
            self.error = error
            with self._lock:
                with contextlib.suppress(Exception):
                    close_stream(self._stream)
                self._stream = None
            self._done.set()
            if self._on_end is not None:
                self._on_end(error)


MAX_LINE_BYTES = 1 << 20
"""The longest line kept (1 MiB). The rest of a longer one (a tensor dump, a
base64 blob) is counted and dropped, and the line says so: following such a
job costs neither time nor memory in the line's length."""

_EOL = re.compile(rb"[\r\n]")


def frame_lines(stream: Iterable[bytes]) -> Iterator[str]:
    """Returns the lines of an engine's log stream (frames in, lines out, each cut at
    MAX_LINE_BYTES; see `_lines`)."""
    return _lines(stream)


def _lines(stream: Iterable[bytes]) -> Iterator[str]:
    # The engine sends frames, not lines: a line may span frames and a frame
    # may hold several lines. A carriage return (a progress bar redrawing)
    # ends a line too, so progress shows live; a "\r" at the end of a frame
    # waits for the next one in case it is half of "\r\n". `scanned` marks
    # how far `pending` is known to hold no line end, so a long line is
    # searched once, not once per frame; past the cap its bytes are counted.
    pending = bytearray()
    scanned = dropped = 0
    for chunk in stream:
        pending += chunk
        while True:
            found = _EOL.search(pending, scanned)
            if found is None:
                scanned = len(pending)
                break
            end = found.start()
            if pending[end] == 0x0A:
                start = end + 1
            elif end + 1 == len(pending):
                scanned = end
                break
            else:
                start = end + 2 if pending[end + 1] == 0x0A else end + 1
            yield _capped(pending, end, dropped)
            del pending[:start]
            scanned = dropped = 0
        if scanned > MAX_LINE_BYTES:
            dropped += scanned - MAX_LINE_BYTES
            del pending[MAX_LINE_BYTES:scanned]
            scanned = MAX_LINE_BYTES
    while pending.endswith(b"\r"):
        del pending[-1]
    if pending or dropped:
        yield _capped(pending, len(pending), dropped)


def _capped(data: bytearray, end: int, dropped: int) -> str:
    """Returns `data[:end]` as text, cut at MAX_LINE_BYTES, saying what was left out."""
    dropped += max(0, end - MAX_LINE_BYTES)
    text = bytes(data[: min(end, MAX_LINE_BYTES)]).decode("utf-8", "replace")
    if not dropped:
        return text
    return f"{text} [line cut at {_size(MAX_LINE_BYTES)}: {_size(dropped)} more not shown]"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    return f"{size / 1024:.1f} KiB" if size < 1 << 20 else f"{size / (1 << 20):.1f} MiB"


def close_stream(stream: Any) -> None:
    """Closes an SDK log or attach stream from any thread, waking its blocked read."""
    with contextlib.suppress(Exception):
        # The socket of an ssh:// engine is a paramiko channel, which the SDK
        # refuses to close; closing the channel wakes the reader all the same.
        fp = stream._response.raw._fp.fp
        channel = getattr(fp, "channel", None)
        if channel is not None:
            channel.close()
            return
    with contextlib.suppress(Exception):
        stream.close()
