"""Files over an SSH connection: the streamed put, SFTP stat/get/rename/remove, remote hashing.

`SSHTransport`'s file methods delegate here (one module per seam: connection
and commands in `ssh`, files here).

`put` streams over an exec channel into a tiny writer run by the device's
Python: it avoids SFTP's per-request round trips and is what gets paramiko to
scp's speed (see scripts/bench/bench_push.py). Every byte handed to the
channel is progress for the connection's watchdog, so a device that stops
taking bytes fails with "no progress for N s" instead of hanging the push.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import paramiko

from tfstudio.errors import TransportError
from tfstudio.operations import CancelToken
from tfstudio.transport.base import (
    PUT_CHUNK,
    CommandResult,
    ProgressCallback,
    check_remote_path,
    command_line,
)

if TYPE_CHECKING:
    from tfstudio.transport.sshguard import Watchdog


class SSHConnection(Protocol):
    """What the file operations use of an `SSHTransport`: its identity, deadlines and
    guarded internals (declared here so that this module need not import `ssh`)."""

    name: str
    python: str
    command_timeout: float
    bytes_sent: int
    _sftp: paramiko.SFTPClient | None
    _watchdog: Watchdog | None

    @property
    def _transport(self) -> paramiko.Transport: ...

    def _guard(self, what: str, *, probe: bool) -> contextlib.AbstractContextManager[None]: ...

    def _alive(self) -> bool: ...

    def _lost(self, what: str) -> TransportError: ...

    def _errors(self, what: str) -> contextlib.AbstractContextManager[None]: ...

    def _collect(
        self,
        chan: paramiko.Channel,
        timeout: float,
        what: str,
        cancel: CancelToken | None = None,
    ) -> CommandResult: ...

    def run(
        self,
        argv: Sequence[str],
        timeout: float | None = None,
        stdin: bytes | None = None,
        cancel: CancelToken | None = None,
        label: str | None = None,
    ) -> CommandResult: ...


_WRITER = """import os, sys
p, o = sys.argv[1], int(sys.argv[2])
if os.path.dirname(p):
    os.makedirs(os.path.dirname(p), 0o700, exist_ok=True)
f = os.fdopen(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600), "wb")
f.seek(o)
f.truncate()
r = sys.stdin.buffer
while True:
    b = r.read(1048576)
    if not b:
        break
    f.write(b)
f.flush()
print(f.tell())
"""
"""Runs on the device: writes stdin into a file from an offset (creating its directory),
prints the final size. The file is the owner's alone, as the agent keeps models.
No fsync: a partial torn by a crash fails the prefix hash of the next resume, and
the agent verifies the whole sha256 before it stores anything."""

_HASHER = """import hashlib, sys
h, n = hashlib.sha256(), int(sys.argv[2])
with open(sys.argv[1], "rb") as f:
    while n > 0:
        b = f.read(min(n, 1048576))
        if not b:
            break
        h.update(b)
        n -= len(b)
print(h.hexdigest())
"""


def put(
    conn: SSHConnection,
    local: Path,
    remote: str,
    *,
    offset: int = 0,
    progress: ProgressCallback | None = None,
) -> int:
    """Streams `local[offset:]` into `remote`; returns bytes sent. Raises TransportError."""
    check_remote_path(remote)
    total = local.stat().st_size
    line = command_line([conn.python, "-c", _WRITER, remote, str(offset)])
    start_count = conn.bytes_sent
    sent = 0
    with conn._errors(f"sending {local.name}"):
        chan = conn._transport.open_session(timeout=conn.command_timeout)
        try:
            chan.exec_command(line)
            try:
                with conn._guard(f"sending {local.name}", probe=False):
                    sent = _stream(conn, chan, local, offset, total, progress)
                    chan.shutdown_write()
                with conn._guard("waiting for the file writer", probe=True):
                    result = conn._collect(chan, conn.command_timeout, "the file writer")
            except (OSError, EOFError, paramiko.SSHException, TransportError) as exc:
                # A closed channel also reports "exit status ready": only an
                # exit status the device actually sent (not paramiko's -1)
                # on a live connection means the writer died. The link can
                # drop while streaming or just after the last byte.
                alive = conn._alive()
                if isinstance(exc, TransportError) and alive:
                    raise  # the writer's own failure or timeout, already worded
                if not alive or not chan.status_event.is_set() or chan.exit_status == -1:
                    lost = conn._lost(f"sending {local.name}")
                    raise TransportError(
                        f"{lost.message} ({conn.bytes_sent - start_count} bytes sent)",
                        hint="the next deploy resumes from what arrived",
                    ) from None
                # The writer died mid-stream (disk full, no permission): its
                # stderr says why, which beats "Socket is closed".
                result = CommandResult("", _drain_stderr(chan), chan.recv_exit_status())
        finally:
            chan.close()
    if not result.ok or result.stdout.strip() != str(total):
        detail = (result.stderr.strip().splitlines() or [result.stdout.strip()])[-1:]
        raise TransportError(
            f"{conn.name}: writing {remote} failed: {' '.join(detail) or 'size mismatch'}",
            hint="check disk space and permissions on the device",
        )
    return sent


def _stream(
    conn: SSHConnection,
    chan: paramiko.Channel,
    local: Path,
    offset: int,
    total: int,
    progress: ProgressCallback | None,
) -> int:
    stream_exact(conn, chan, local, offset, total - offset, progress)
    return total - offset


def stream_exact(
    conn: SSHConnection,
    chan: paramiko.Channel,
    local: Path,
    offset: int,
    length: int,
    progress: ProgressCallback | None,
) -> None:
    """Sends exactly `length` bytes of `local` from `offset` on `chan`, in packet-sized
    pieces (each one progress for the watchdog). Raises TransportError when `local`
    ends sooner (the receiver, expecting `length`, would be out of step)."""
    total = offset + length
    sent = 0
    with open(local, "rb") as handle:
        handle.seek(offset)
        while sent < length:
            block = handle.read(min(PUT_CHUNK, length - sent))
            if not block:
                raise TransportError(
                    f"{conn.name}: {local} shrank while it was being sent "
                    f"({offset + sent} of {total} bytes)"
                )
            for piece in _packets(chan, block):
                chan.sendall(piece)
                if conn._watchdog is not None:
                    conn._watchdog.kick()
            sent += len(block)
            conn.bytes_sent += len(block)
            if progress:
                progress(offset + sent, total)


def _sftp_client(conn: SSHConnection) -> paramiko.SFTPClient:
    if conn._sftp is None:
        with conn._errors("opening SFTP"), conn._guard("opening SFTP", probe=True):
            conn._sftp = paramiko.SFTPClient.from_transport(conn._transport)
        if conn._sftp is None:
            raise TransportError(f"{conn.name}: the device refused an SFTP session")
    return conn._sftp


@contextlib.contextmanager
def _sftp_call(conn: SSHConnection, what: str) -> Iterator[paramiko.SFTPClient]:
    with conn._errors(what), conn._guard(what, probe=True):
        yield _sftp_client(conn)


def get(conn: SSHConnection, remote: str, local: Path) -> None:
    """Copies `remote` into `local`. Raises TransportError."""
    with _sftp_call(conn, f"fetching {remote}") as sftp:
        sftp.get(check_remote_path(remote), str(local))


def stat_size(conn: SSHConnection, remote: str) -> int | None:
    """Returns the size of `remote` or None when absent."""
    with _sftp_call(conn, f"checking {remote}") as sftp:
        try:
            size = sftp.stat(check_remote_path(remote)).st_size
        except FileNotFoundError:
            return None
    return int(size or 0)


def sha256_prefix(conn: SSHConnection, remote: str, length: int) -> str:
    """Returns the sha256 of the first `length` bytes of `remote`, hashed on the device."""
    argv: Sequence[str] = [conn.python, "-c", _HASHER, check_remote_path(remote), str(length)]
    result = conn.run(argv, label=f"hashing {remote}")
    if not result.ok:
        raise TransportError(f"{conn.name}: cannot hash {remote}: {result.stderr.strip()}")
    return result.stdout.strip()


def makedirs(conn: SSHConnection, remote: str) -> None:
    """Creates `remote` and its parents on the device."""
    parts = check_remote_path(remote).split("/")
    current = "/" if remote.startswith("/") else ""
    with _sftp_call(conn, f"creating {remote}") as sftp:
        for part in parts:
            if not part:
                continue
            current = f"{current}{part}" if current in ("", "/") else f"{current}/{part}"
            try:
                sftp.stat(current)
            except FileNotFoundError:
                sftp.mkdir(current)


def rename(conn: SSHConnection, src: str, dst: str) -> None:
    """Renames `src` onto `dst` (POSIX semantics, replacing `dst`)."""
    with _sftp_call(conn, f"renaming {src}") as sftp:
        sftp.posix_rename(check_remote_path(src), check_remote_path(dst))


def remove(conn: SSHConnection, remote: str) -> None:
    """Removes `remote` if present."""
    with _sftp_call(conn, f"removing {remote}") as sftp, contextlib.suppress(FileNotFoundError):
        sftp.remove(check_remote_path(remote))


def _drain_stderr(chan: paramiko.Channel) -> str:
    chunks = []
    while chan.recv_stderr_ready():
        chunks.append(chan.recv_stderr(1 << 16))
    return b"".join(chunks).decode("utf-8", "replace")


def _packets(chan: paramiko.Channel, block: bytes) -> Iterator[bytes]:
    # Channel.sendall re-slices the remaining bytes after every packet, which is
    # quadratic in the block size (a third of the CPU of a 200 MB push). Handing
    # it packet-sized pieces keeps each copy small, and each piece sent is
    # progress the watchdog sees.
    # paramiko keeps 64 bytes of each packet for headers.
    step = max(1024, int(chan.out_max_packet_size or 32768) - 64)
    view = memoryview(block)
    for start in range(0, len(block), step):
        yield bytes(view[start : start + step])
