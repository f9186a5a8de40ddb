"""A multi-worker job's log: every worker's lines, each with its `[w0]` prefix.

`read_group_logs` merges the workers' logs so far by their timestamps.
`GroupLogFollower` follows them all at once, one reader thread per worker,
and hands each line on as it arrives (arrival order across workers), with the
same interface as `LogFollower`, so the facade's `LogStream` and
`follow_to_end` take either.

A service's log stream does not end when its task does (it waits for the
service's next task), so a watcher thread reads the group's state every
`poll_s` (which also stops the survivors of a failing group, see
`tfstudio.training.groups`); once every worker has ended it closes the
streams and reads each worker's log once more, non-following, to hand on the
lines the streams had not delivered yet. Lines are told apart by the
engine's timestamps, so none is lost or repeated.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from tfstudio.errors import TfStudioError
from tfstudio.training.client import EngineClient, translate
from tfstudio.training.groups import refresh_group
from tfstudio.training.jobs import JobInfo
from tfstudio.training.logs import LineCallback, LogLine, close_stream, frame_lines
from tfstudio.training.timefmt import parse_ns
from tfstudio.training.workers import WorkerInfo

POLL_S = 1.0
"""How often the follower reads the group's state (and enforces a failure)."""
_STAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (.*)$", re.DOTALL)


def prefix(worker: WorkerInfo, text: str) -> str:
    """Returns one of the worker's lines as shown: `[w0] text`."""
    return f"[{worker.label}] {text}"


def read_group_logs(client: EngineClient, job: JobInfo, *, tail: int | None = None) -> list[str]:
    """Returns every worker's lines so far (the last `tail` of the merge), oldest first.

    Raises EngineError.
    """
    merged: list[tuple[int, int, str]] = []
    for worker in job.workers:
        for stamp, text in _stamped(_open(client, job, worker, follow=False, tail=tail)):
            merged.append((stamp, worker.index, prefix(worker, text)))
    merged.sort(key=lambda item: (item[0], item[1]))
    lines = [text for _s, _i, text in merged]
    return lines[-tail:] if tail is not None and tail > 0 else lines


class GroupLogFollower:
    """Follows every worker's log until the group ends or `stop()` is called.

    `on_line` gets `LogLine(job_id, "[wN] text")`, one call at a time, in
    arrival order; `on_end` once, with None or the TfStudioError that ended
    it. `job` is the group as last read.
    """

    def __init__(
        self,
        client: EngineClient,
        job: JobInfo,
        on_line: LineCallback,
        *,
        tail: int | None = None,
        on_end: Callable[[TfStudioError | None], None] | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self.client = client
        self.job = job
        self.error: TfStudioError | None = None
        self._on_line = on_line
        self._on_end = on_end
        self._tail = tail
        self._poll_s = poll_s
        self._streams: dict[int, Any] = {}
        self._seen: dict[int, tuple[int, int]] = {}
        """Per worker: the last timestamp handed on, and how many lines had it."""
        self._emit_lock = threading.Lock()
        self._stopped = threading.Event()
        self._closing = threading.Event()
        """Set when the streams are closed on purpose: a reader's error then means nothing."""
        self._done = threading.Event()
        self._readers: list[threading.Thread] = []
        self._watcher = threading.Thread(
            target=self._watch, name=f"tfstudio-group-logs-{job.job_id}", daemon=True
        )

    def start(self) -> GroupLogFollower:
        """Opens every worker's stream and starts following; returns self. Raises EngineError."""
        try:
            for worker in self.job.workers:
                self._streams[worker.index] = _open(
                    self.client, self.job, worker, follow=True, tail=self._tail
                )
        except BaseException:
            self._close_streams()
            raise
        for worker in self.job.workers:
            reader = threading.Thread(
                target=self._read,
                args=(worker, self._streams[worker.index]),
                name=f"tfstudio-logs-{self.job.job_id}-{worker.label}",
                daemon=True,
            )
            self._readers.append(reader)
            reader.start()
        self._watcher.start()
        return self

    @property
    def done(self) -> bool:
        """True once following has ended (the group ended, stopped, or failed)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for the end of following; returns True when it has ended."""
        return self._done.wait(timeout)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ends following now, from any thread; waits (up to `timeout`) for the watcher."""
        self._stopped.set()
        self._close_streams()
        if self._watcher.is_alive() and threading.current_thread() is not self._watcher:
            self._watcher.join(timeout)

    # -- threads --------------------------------------------------------------

    def _read(self, worker: WorkerInfo, stream: Any) -> None:
        try:
            for stamp, text in _stamped(stream):
                if not self._emit(worker, stamp, text):
                    return
        except Exception as exc:  # noqa: BLE001 - reported through on_end
            if not self._closing.is_set() and self.error is None:
                self.error = translate(exc, self.client.engine, f"following {worker.service}")

    def _emit(self, worker: WorkerInfo, stamp: int, text: str) -> bool:
        with self._emit_lock:
            if self._stopped.is_set():
                return False
            last, count = self._seen.get(worker.index, (-1, 0))
            self._seen[worker.index] = (stamp, count + 1 if stamp == last else 1)
            self._on_line(LogLine(self.job.job_id, prefix(worker, text)))
        return True

    def _watch(self) -> None:
        try:
            while not self._stopped.wait(self._poll_s):
                if self.error is not None:
                    break
                self.job = refresh_group(self.client, self.job)
                if not self.job.running:
                    self._drain()
                    break
        except TfStudioError as exc:
            if not self._stopped.is_set():
                self.error = self.error or exc
        except Exception as exc:  # noqa: BLE001 - reported through on_end
            if not self._stopped.is_set():
                self.error = translate(exc, self.client.engine, "following a multi-worker job")
        finally:
            self._close_streams()
            for reader in self._readers:
                reader.join(2.0)
            self._done.set()
            if self._on_end is not None and not self._stopped.is_set():
                self._on_end(self.error)

    def _drain(self) -> None:
        """Hands on each worker's lines its stream had not delivered before the end."""
        self._close_streams()
        for reader in self._readers:
            reader.join(2.0)
        for worker in self.job.workers:
            last, count = self._seen.get(worker.index, (-1, 0))
            same = 0
            stream = _open(self.client, self.job, worker, follow=False, tail=None)
            for stamp, text in _stamped(stream):
                if stamp < last:
                    continue
                if stamp == last:
                    same += 1
                    if same <= count:
                        continue
                if not self._emit(worker, stamp, text):
                    return

    def _close_streams(self) -> None:
        self._closing.set()
        for stream in list(self._streams.values()):
            close_stream(stream)


def _open(
    client: EngineClient, job: JobInfo, worker: WorkerInfo, *, follow: bool, tail: int | None
) -> Any:
    """Opens one worker's service log (stdout and stderr, with timestamps)."""
    from docker.types.daemon import CancellableStream

    api = client.api
    params = {
        "details": False,
        "follow": follow,
        "stdout": True,
        "stderr": True,
        "timestamps": True,
        "tail": tail if tail is not None else "all",
    }
    with client.call(f"reading the log of worker {worker.index} of job {job.job_id}"):
        # As `APIClient.service_logs`, but kept cancellable: `close_stream` needs the response.
        response = api._get(api._url("/services/{0}/logs", worker.service_id), params=params,
                            stream=True)  # fmt: skip
        api._raise_for_status(response)
        return CancellableStream(api._multiplexed_response_stream_helper(response), response)


def _stamped(stream: Any) -> Iterator[tuple[int, str]]:
    """Yields (timestamp ns, text) per line; a line without a stamp (the rest of a line cut
    by a carriage return) takes the one before it."""
    stamp = 0
    with contextlib.closing(_Closer(stream)):
        for line in frame_lines(stream):
            match = _STAMPED.match(line)
            if match:
                stamp = parse_ns(match.group(1)) or stamp
                line = match.group(2)
            yield stamp, line


class _Closer:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def close(self) -> None:
        close_stream(self._stream)
