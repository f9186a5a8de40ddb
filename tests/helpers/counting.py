"""A Transport that counts what a deploy asks of a device: remote commands, file operations,
and the requests written to an agent session. It forwards everything to a real transport."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tfstudio.transport.base import CommandResult, RemoteProcess, Transport


def command_label(argv: Sequence[str]) -> str:
    """`agent COMMAND` for an agent call (`... --home=H --json COMMAND ...`), else argv[0]."""
    words = list(argv)
    homes = [i for i, w in enumerate(words) if w.startswith("--home=")]
    return f"agent {words[homes[0] + 2]}" if homes else Path(words[0]).name


class CountingProcess(RemoteProcess):
    """Forwards to a real remote process; counts the session requests written to it."""

    def __init__(self, inner: RemoteProcess, calls: Counter[str]) -> None:
        self.inner = inner
        self.calls = calls

    def read_line(
        self, timeout: float, cancel: threading.Event | None = None, label: str | None = None
    ) -> str:
        return self.inner.read_line(timeout, cancel, label)

    def stderr_text(self) -> str:
        return self.inner.stderr_text()

    def write(self, data: bytes) -> None:
        try:
            self.calls[f"session {json.loads(data)['op']}"] += 1
        except (ValueError, KeyError):
            pass
        self.inner.write(data)

    def send_file(self, local: Path, offset: int, length: int, progress: Any = None) -> None:
        self.inner.send_file(local, offset, length, progress)

    def exit_code(self, wait: float = 0.0) -> int | None:
        return self.inner.exit_code(wait)

    def close(self) -> None:
        self.inner.close()


class Counting(Transport):
    """Forwards to a real transport and counts each kind of request (`calls`)."""

    def __init__(self, inner: Transport, *, sessions: bool = True) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()
        self._sessions = sessions

    @property  # type: ignore[override]
    def bytes_sent(self) -> int:
        return self.inner.bytes_sent

    def run(
        self,
        argv: Sequence[str],
        timeout: float | None = None,
        stdin: bytes | None = None,
        cancel: Any = None,
        label: str | None = None,
    ) -> CommandResult:
        self.calls[command_label(argv)] += 1
        return self.inner.run(argv, timeout, stdin, cancel=cancel, label=label)

    def spawn(self, argv: Sequence[str]) -> RemoteProcess:
        self.calls[command_label(argv)] += 1
        process = self.inner.spawn(argv)
        return CountingProcess(process, self.calls) if self._sessions else process

    def _file(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.calls[what] += 1
        return call(*args, **kwargs)

    def put(self, local: Path, remote: str, *, offset: int = 0, progress: Any = None) -> int:
        return int(
            self._file("put", self.inner.put, local, remote, offset=offset, progress=progress)
        )

    def get(self, remote: str, local: Path) -> None:
        self._file("get", self.inner.get, remote, local)

    def stat_size(self, remote: str) -> int | None:
        size = self._file("stat", self.inner.stat_size, remote)
        return None if size is None else int(size)

    def sha256_prefix(self, remote: str, length: int) -> str:
        return str(self._file("hash", self.inner.sha256_prefix, remote, length))

    def makedirs(self, remote: str) -> None:
        self._file("mkdir", self.inner.makedirs, remote)

    def rename(self, src: str, dst: str) -> None:
        self._file("rename", self.inner.rename, src, dst)

    def remove(self, remote: str) -> None:
        self._file("remove", self.inner.remove, remote)

    def close(self) -> None:
        self.inner.close()
