"""The one interface the studio needs from a device: run, put, get.

`Transport` is implemented by `SSHTransport` (paramiko, `ssh.py`) and
`LocalTransport` (a real subprocess on this machine, `local.py`). Remote paths
are POSIX strings; a relative path is relative to the login directory (the
device user's home), which is how the default agent home `.tfstudio-agent`
works without relying on `~` expansion by a shell.
"""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

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


class Transport(ABC):
    """A connection to one device. Use as a context manager; `close()` is idempotent.

    Every method raises `TransportError` when the connection or transfer fails
    (never a library exception). `bytes_sent` counts file bytes put so far.
    """

    name: str
    bytes_sent: int = 0

    @abstractmethod
    def run(
        self, argv: Sequence[str], timeout: float | None = None, stdin: bytes | None = None
    ) -> CommandResult:
        """Runs `argv` (quoted, no shell interpretation) and returns its result.

        Raises TransportError on a connection failure or when `timeout` passes.
        """

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
