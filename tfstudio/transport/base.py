"""The one interface the studio needs from a device: run, put, get.

`Transport` is implemented by `SSHTransport` (paramiko, `ssh.py`) and
`LocalTransport` (a real subprocess on this machine, `local.py`). Remote paths
are POSIX strings; a relative path is relative to the login directory (the
device user's home), which is how the default agent home `.tfstudio-agent`
works without relying on `~` expansion by a shell.
"""

from __future__ import annotations

import shlex
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tfstudio.operations import CancelToken

ProgressCallback = Callable[[int, int], None]
"""Called as `progress(bytes_done, bytes_total)` while a file is being put.
`bytes_done` counts from the start of the file (a resumed put starts at its offset)."""

PUT_CHUNK = 1 << 20
"""Bytes read from the local file per write; big enough that the per-call cost is noise."""


@dataclass(frozen=True)
class CommandResult:
    """What a remote command printed and how it exited."""

    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0


def command_line(argv: Sequence[str]) -> str:
    """Returns `argv` as one shell command line, every word quoted with shlex.quote."""
    if not argv:
        raise ValueError("empty command")
    return " ".join(shlex.quote(str(word)) for word in argv)


def check_remote_path(path: str) -> str:
    """Returns `path` if it is usable as a remote path, else raises ValueError.

    Spaces and shell metacharacters are fine (every path is quoted); NUL and
    newlines are not, since they break the line-oriented agent protocol.
    """
    if not path or "\x00" in path or "\n" in path or "\r" in path:
        raise ValueError(f"unusable remote path {path!r}")
    return path


def read_line(
    buffer: bytearray,
    read_chunk: Callable[[float], bytes | None],
    timeout: float,
    cancel: CancelToken | None,
    what: str,
) -> str:
    """Returns the next line from a process's stdout ("" at its end), via `read_chunk(wait)`.

    `read_chunk` returns bytes, b"" at end of output, or None when nothing came
    within `wait` seconds. Raises NoAnswerError (a TransportError) after `timeout`,
    CancelledError when `cancel` is set.
    """
    from tfstudio.errors import CancelledError, NoAnswerError

    deadline = time.monotonic() + timeout
    while True:
        end = buffer.find(b"\n")
        if end >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            return line.decode("utf-8", "replace")
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"{what}: cancelled")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoAnswerError(f"{what}: no answer within {timeout:g}s")
        chunk = read_chunk(min(remaining, 0.2))
        if chunk is None:
            continue
        if not chunk:
            rest = bytes(buffer)
            buffer.clear()
            return rest.decode("utf-8", "replace")
        buffer += chunk


class RemoteProcess(ABC):
    """A command left running on the device (e.g. the deploy lock's holder).

    Its stdin stays open until `close()`: closing it is how the process learns
    that its caller is done (or gone).
    """

    @abstractmethod
    def read_line(
        self, timeout: float, cancel: CancelToken | None = None, label: str | None = None
    ) -> str:
        """Returns the next line of its stdout ("" once it exited without one).

        `label` says what the caller waits for, in errors ("waiting for the
        device" by default).

        Raises TransportError when `timeout` passes or the connection fails,
        CancelledError when `cancel` is set.
        """

    @abstractmethod
    def stderr_text(self) -> str:
        """Returns what it wrote on stderr so far (after it exited: all of it)."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Writes `data` to its stdin. Raises TransportError."""

    @abstractmethod
    def send_file(
        self,
        local: Path,
        offset: int,
        length: int,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Streams exactly `length` bytes of `local` from `offset` into its stdin.

        `progress(done, total)` counts from the start of the file; it may raise
        (CancelledError) to stop. Raises TransportError (also when `local`
        holds fewer bytes than that: the process's input is then out of step).
        """

    @abstractmethod
    def exit_code(self, wait: float = 0.0) -> int | None:
        """Returns its exit status once it has exited (waiting up to `wait`), else None."""

    @abstractmethod
    def close(self) -> None:
        """Closes its stdin and lets go of it (idempotent, never raises)."""


class Transport(ABC):
    """A connection to one device. Use as a context manager; `close()` is idempotent.

    Every method raises `TransportError` when the connection or transfer fails
    (never a library exception). `bytes_sent` counts file bytes put so far.
    """

    name: str
    bytes_sent: int = 0

    @abstractmethod
    def run(
        self,
        argv: Sequence[str],
        timeout: float | None = None,
        stdin: bytes | None = None,
        cancel: CancelToken | None = None,
        label: str | None = None,
    ) -> CommandResult:
        """Runs `argv` (quoted, no shell interpretation) and returns its result.

        Raises TransportError on a connection failure or when `timeout` passes,
        CancelledError when `cancel` is set while it waits (the command may
        still finish on the device). `label` names the command in errors.
        """

    @abstractmethod
    def spawn(self, argv: Sequence[str]) -> RemoteProcess:
        """Starts `argv` and returns it running, its stdin open. Raises TransportError."""

    @abstractmethod
    def put(
        self,
        local: Path,
        remote: str,
        *,
        offset: int = 0,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Writes `local[offset:]` to `remote` at `offset` (truncating after it).

        Creates the parent directory of `remote` when missing.

        Returns the number of bytes sent. Raises TransportError.
        """

    @abstractmethod
    def get(self, remote: str, local: Path) -> None:
        """Copies `remote` into `local`. Raises TransportError."""

    @abstractmethod
    def stat_size(self, remote: str) -> int | None:
        """Returns the size of `remote`, or None when it does not exist."""

    @abstractmethod
    def sha256_prefix(self, remote: str, length: int) -> str:
        """Returns the hex sha256 of the first `length` bytes of `remote`."""

    @abstractmethod
    def makedirs(self, remote: str) -> None:
        """Creates the directory `remote` and its parents (no error if present)."""

    @abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Renames `src` to `dst`, replacing `dst`."""

    @abstractmethod
    def remove(self, remote: str) -> None:
        """Removes the file `remote` (no error if absent)."""

    @abstractmethod
    def close(self) -> None:
        """Closes the connection; later calls raise TransportError."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
