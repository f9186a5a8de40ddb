"""`LocalTransport`: the built-in device `local`, a real subprocess on this machine.

Its "login directory" is `TFSTUDIO_HOME/devices/local/`: relative remote paths
resolve there, and commands run there with no shell. It is what a newcomer
without hardware deploys to; it shares the code path of a real device except
for the wire.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tfstudio.digest import file_sha256
from tfstudio.errors import TransportError
from tfstudio.fleet.transport import (
    PUT_CHUNK,
    CommandResult,
    ProgressCallback,
    Transport,
    check_remote_path,
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
        self, argv: Sequence[str], timeout: float | None = None, stdin: bytes | None = None
    ) -> CommandResult:
        """Runs `argv` in the local device directory. Raises TransportError."""
        self._path(".")
        try:
            proc = subprocess.run(
                list(argv),
                cwd=self.root,
                input=stdin or b"",
                capture_output=True,
                timeout=timeout or self.command_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise TransportError(
                f"{self.name}: {argv[0]} did not finish within {exc.timeout:g}s"
            ) from exc
        except OSError as exc:
            # Mirror a shell: a missing program is exit 127, not an exception.
            return CommandResult("", f"{argv[0]}: {exc.strerror}", 127)
        return CommandResult(
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
            proc.returncode,
        )

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
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT, 0o644)
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
