"""`LocalTransport`: the built-in device `local`, a real subprocess on this machine.

Its "login directory" is `TFSTUDIO_HOME/devices/local/`: relative remote paths
resolve there, and commands run there with no shell. It is what a newcomer
without hardware deploys to; it shares the code path of a real device except
for the wire.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tfstudio.digest import file_sha256
from tfstudio.errors import CancelledError, TfStudioError, TransportError
from tfstudio.operations import CancelToken
from tfstudio.transport.base import (
    PUT_CHUNK,
    CommandResult,
    ProgressCallback,
    RemoteProcess,
    Transport,
    check_remote_path,
    read_line,
)


class LocalTransport(Transport):
    """Runs commands and copies files under `root` on this machine."""

    def __init__(self, root: Path, *, name: str = "local", command_timeout: float = 300.0) -> None:
        self.name = name
        self.root = root
        self.command_timeout = command_timeout
        self.bytes_sent = 0
        self._closed = False
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportError(f"{name}: cannot create {root}: {exc.strerror}") from exc

    def _path(self, remote: str) -> Path:
        if self._closed:
            raise TransportError(f"{self.name}: the transport is closed")
        return self.root / check_remote_path(remote)

    def run(
        self,
        argv: Sequence[str],
        timeout: float | None = None,
        stdin: bytes | None = None,
        cancel: CancelToken | None = None,
        label: str | None = None,
    ) -> CommandResult:
        """Runs `argv` in the local device directory.

        Raises TransportError past `timeout`, CancelledError when `cancel` is set
        (the process is then stopped).
        """
        self._path(".")
        limit = timeout or self.command_timeout
        what = label or str(argv[0])
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=self.root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            # Mirror a shell: a missing program is exit 127, not an exception.
            return CommandResult("", f"{argv[0]}: {exc.strerror}", 127)
        deadline = time.monotonic() + limit
        feed: bytes | None = stdin or b""
        while True:
            try:
                out, err = proc.communicate(input=feed, timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                feed = None  # sent with the first call
            stop: TfStudioError | None = None
            if cancel is not None and cancel.is_set():
                stop = CancelledError(f"{self.name}: cancelled while {what}")
            elif time.monotonic() >= deadline:
                stop = TransportError(f"{self.name}: {what} did not finish within {limit:g}s")
            if stop is not None:
                proc.kill()
                proc.communicate()
                raise stop
        return CommandResult(
            out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), proc.returncode
        )

    def spawn(self, argv: Sequence[str]) -> RemoteProcess:
        """Starts `argv` in the local device directory, stdin open. Raises TransportError."""
        self._path(".")
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=self.root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise TransportError(f"{self.name}: cannot start {argv[0]}: {exc.strerror}") from exc
        return _LocalProcess(self, proc)

    def put(
        self,
        local: Path,
        remote: str,
        *,
        offset: int = 0,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Copies `local[offset:]` into `remote` at `offset`; returns bytes copied."""
        dest = self._path(remote)
        total = local.stat().st_size
        sent = 0
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT, 0o600)  # as the agent keeps models
            with os.fdopen(fd, "wb") as out, open(local, "rb") as src:
                out.seek(offset)
                out.truncate()
                src.seek(offset)
                while True:
                    if self._closed:
                        raise TransportError(f"{self.name}: transport closed during transfer")
                    block = src.read(PUT_CHUNK)
                    if not block:
                        break
                    out.write(block)
                    sent += len(block)
                    self.bytes_sent += len(block)
                    if progress:
                        progress(offset + sent, total)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise TransportError(f"{self.name}: writing {remote} failed: {exc.strerror}") from exc
        return sent

    def get(self, remote: str, local: Path) -> None:
        """Copies `remote` to `local`."""
        try:
            shutil.copyfile(self._path(remote), local)
        except OSError as exc:
            raise TransportError(f"{self.name}: fetching {remote} failed: {exc.strerror}") from exc

    def stat_size(self, remote: str) -> int | None:
        """Returns the size of `remote` or None."""
        path = self._path(remote)
        return path.stat().st_size if path.is_file() else None

    def sha256_prefix(self, remote: str, length: int) -> str:
        """Returns the sha256 of the first `length` bytes of `remote`."""
        return file_sha256(self._path(remote), length)

    def makedirs(self, remote: str) -> None:
        """Creates `remote` and its parents."""
        self._path(remote).mkdir(parents=True, exist_ok=True)

    def rename(self, src: str, dst: str) -> None:
        """Renames `src` onto `dst`."""
        os.replace(self._path(src), self._path(dst))

    def remove(self, remote: str) -> None:
        """Removes `remote` if present."""
        self._path(remote).unlink(missing_ok=True)

    def close(self) -> None:
        """Marks the transport closed (a put in progress stops at the next block)."""
        self._closed = True


class _LocalProcess(RemoteProcess):
    """A process of the local device left running with its stdin open."""

    def __init__(self, transport: LocalTransport, proc: subprocess.Popen[bytes]) -> None:
        self._transport = transport
        self._name = transport.name
        self._proc = proc
        self._buffer = bytearray()

    def _chunk(self, wait: float) -> bytes | None:
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], wait)
        if not ready:
            return None
        return os.read(self._proc.stdout.fileno(), 1 << 16)

    def read_line(
        self, timeout: float, cancel: CancelToken | None = None, label: str | None = None
    ) -> str:
        """Returns its next stdout line ("" once it ended)."""
        what = f"{self._name}: {label}" if label else self._name
        return read_line(self._buffer, self._chunk, timeout, cancel, what)

    def stderr_text(self) -> str:
        """Returns its stderr once it has exited ("" while it runs)."""
        if self._proc.poll() is None or self._proc.stderr is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            return self._proc.stderr.read().decode("utf-8", "replace")
        return ""

    def write(self, data: bytes) -> None:
        """Writes `data` to its stdin. Raises TransportError."""
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
        except (OSError, ValueError) as exc:
            raise TransportError(f"{self._name}: the agent process is gone ({exc})") from exc

    def send_file(
        self, local: Path, offset: int, length: int, progress: ProgressCallback | None = None
    ) -> None:
        """Streams `length` bytes of `local` from `offset` into its stdin (see Transport)."""
        total, sent = offset + length, 0
        with open(local, "rb") as handle:
            handle.seek(offset)
            while sent < length:
                block = handle.read(min(PUT_CHUNK, length - sent))
                if not block:
                    raise TransportError(f"{self._name}: {local} shrank while it was being sent")
                if self._transport._closed:
                    raise TransportError(f"{self._name}: transport closed during transfer")
                self.write(block)
                sent += len(block)
                self._transport.bytes_sent += len(block)
                if progress:
                    progress(offset + sent, total)

    def exit_code(self, wait: float = 0.0) -> int | None:
        """Returns its exit status once it has exited (waiting up to `wait`), else None."""
        try:
            return self._proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        """Closes its stdin (it ends), then reaps it."""
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for stream in (self._proc.stdout, self._proc.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
