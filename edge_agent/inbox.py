"""The device-side file writer: uploads land in `inbox/`, hashed as they arrive, with a record.

A model reaches the device as `inbox/<sha256>.partial`. The writer hashes
every byte as it writes it, so when the last byte lands it knows the file's
sha256 without reading it back. It then fsyncs the file and records, beside
it in `<sha256>.partial.digest`, the digest and the file's identity: device,
inode, size, mtime and ctime (ns). `install` trusts that digest only while
the file still has that identity; any write since (even of the same bytes)
changes the mtime and ctime, and then the file is read once more, streaming.

An upload that was cut short is resumed: the prefix already on disk is read
once to bring the hash up to where it stopped (it is also what proves that the
prefix is the studio's), and the rest is hashed as it arrives.

Writeback overlaps the transfer: a background thread fdatasyncs what has been
written so far every WRITEBEHIND_BYTES, so the final fsync has little left to
do (on this machine, it turns 0.35 s of fsync at the end of a 200 MB upload
into 0.02 s).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from edge_agent import fsutil
from edge_agent.errors import AgentError
from edge_agent.fsutil import PRIVATE_FILE, pause_point

CHUNK = 1 << 20
"""Bytes per read and per hash update."""

WRITEBEHIND_BYTES = 16 << 20
"""Written bytes between two background fdatasyncs of an upload."""

RECORD_SUFFIX = ".digest"
"""Appended to an upload's name for its digest record."""

Identity = Tuple[int, int, int, int, int]
"""(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns): changes with any write to the file."""


def identity(st: os.stat_result) -> Identity:
    """Returns the identity of a file's stat (see `Identity`)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def same_content(before: os.stat_result, after: os.stat_result) -> bool:
    """True when `after` is the same file, unwritten since `before`, across a rename.

    A rename changes the ctime (Linux updates it), so only device, inode, size
    and mtime are compared: a write changes the mtime.
    """
    return identity(before)[:4] == identity(after)[:4]


def record_path(upload: Path) -> Path:
    """Returns the digest record's path beside an upload."""
    return upload.with_name(upload.name + RECORD_SUFFIX)


def write_record(upload: Path, sha256: str, st: os.stat_result) -> None:
    """Records `sha256` as the digest of `upload` while it keeps the identity of `st`."""
    dev, ino, size, mtime_ns, ctime_ns = identity(st)
    record = {
        "sha256": sha256,
        "size": size,
        "dev": dev,
        "ino": ino,
        "mtime_ns": mtime_ns,
        "ctime_ns": ctime_ns,
        "recorded_at": fsutil.utc_now(),
    }
    fsutil.write_json_atomic(record_path(upload), record)


def recorded_digest(upload: Path, st: os.stat_result) -> Optional[str]:
    """Returns the recorded sha256 of `upload` while its record matches identity `st`, else None."""
    try:
        with open(record_path(upload), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    dev, ino, size, mtime_ns, ctime_ns = identity(st)
    expected = {"dev": dev, "ino": ino, "size": size, "mtime_ns": mtime_ns, "ctime_ns": ctime_ns}
    if any(record.get(k) != v for k, v in expected.items()):
        return None
    sha = record.get("sha256")
    return sha if isinstance(sha, str) else None


def discard(upload: Path) -> None:
    """Removes an upload and its record (no error when absent)."""
    for path in (upload, record_path(upload)):
        with contextlib.suppress(OSError):
            path.unlink()


def forget(upload: Path) -> None:
    """Removes an upload's record (the upload itself was moved or removed)."""
    with contextlib.suppress(OSError):
        record_path(upload).unlink()


def hash_file(path: Path) -> Tuple[str, os.stat_result]:
    """Reads `path` once, streaming, and returns (sha256, its stat).

    Raises AgentError(sha256_mismatch) when the file changed while it was read,
    not_found / usage for a missing file or a directory.
    """
    with _open_model(path) as handle:
        before = os.fstat(handle.fileno())
        digest = hashlib.sha256()
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while True:
            n = handle.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
        after = os.fstat(handle.fileno())
    if identity(before) != identity(after):
        raise changed_error(path)
    return digest.hexdigest(), after


def copy_hashing(source: Path, dest: Path) -> Tuple[str, os.stat_result]:
    """Copies `source` to the new file `dest`, hashing in the same pass, and fsyncs it.

    Returns (sha256, the copy's stat). Raises AgentError (not_found, usage,
    disk_full, sha256_mismatch when the source changed while it was copied).
    """
    with _open_model(source) as src:
        before = os.fstat(src.fileno())
        digest = hashlib.sha256()
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        with fsutil.disk_errors(dest.parent):
            fd = os.open(str(dest), os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
            try:
                first = True
                while True:
                    n = src.readinto(buffer)
                    if not n:
                        break
                    digest.update(view[:n])
                    _write_all(fd, view[:n])
                    if first:
                        pause_point("install-model-partial")
                        first = False
                os.fsync(fd)
                copied = os.fstat(fd)
            finally:
                os.close(fd)
        if identity(before) != identity(os.fstat(src.fileno())):
            raise changed_error(source)
    return digest.hexdigest(), copied


@contextlib.contextmanager
def _open_model(path: Path) -> Any:
    try:
        handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise AgentError(f"no such file: {path}", "not_found") from None
    except IsADirectoryError:
        raise AgentError(f"{path} is a directory, not a model file", "usage") from None
    with handle:
        yield handle


def changed_error(path: Path) -> AgentError:
    """The refusal of a model file that changed while it was being installed."""
    return AgentError(
        f"the model file {path.name} changed while it was being installed; nothing was installed",
        "sha256_mismatch",
        hint="finish the upload before installing (upload as .partial, then rename)",
    )


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def prefix_digest(upload: Path, length: int) -> Any:
    """Returns a sha256 object fed with the first `length` bytes of `upload` (one read)."""
    digest = hashlib.sha256()
    with open(upload, "rb", buffering=0) as handle:
        remaining = length
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while remaining > 0:
            n = handle.readinto(buffer)
            if not n:
                break
            n = min(n, remaining)
            digest.update(view[:n])
            remaining -= n
    if remaining:
        raise AgentError(f"{upload.name} is shorter than {length} bytes", "usage")
    return digest


class WriteBehind:
    """A thread that fdatasyncs an upload's file behind the writer, so writeback overlaps
    the transfer instead of all happening in the final fsync."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._due = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="write-behind", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._done:
                return
            with contextlib.suppress(OSError):  # the final fsync reports real errors
                os.fdatasync(self._fd)

    def kick(self) -> None:
        """Asks for a writeback of what was written so far (never blocks)."""
        self._due.set()

    def stop(self) -> None:
        """Ends the thread (the caller then fsyncs and closes the file)."""
        self._done = True
        self._due.set()
        self._thread.join()


def receive(
    source: Any,
    upload: Path,
    *,
    offset: int,
    length: int,
    total: int,
    digest: Any,
    progress: Optional[Callable[[int], None]] = None,
) -> Dict[str, Any]:
    """Writes `length` bytes read from `source` (`readinto`) into `upload` at `offset`,
    hashing them.

    `digest` already holds the hash of the first `offset` bytes. The file is
    cut at `offset` first. When the file then holds `total` bytes, it is
    fsynced and its digest recorded. Returns {"size", "sha256" (None while
    incomplete)}. Raises AgentError(disk_full), or EOFError when `source` ends
    early (what arrived stays, for a resume).
    """
    with fsutil.disk_errors(upload.parent):
        fsutil.private_dir(upload.parent)
        forget(upload)  # the file is about to change: its old record must not outlive that
        fd = os.open(str(upload), os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
        os.fchmod(fd, PRIVATE_FILE)  # an upload resumed from an older agent's 0644 file
        try:
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
            behind = WriteBehind(fd)
            try:
                _pump(source, fd, length, digest, behind, progress)
            finally:
                behind.stop()
            size = offset + length
            if size != total:
                return {"size": size, "sha256": None}
            os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        sha = digest.hexdigest()
        write_record(upload, sha, st)
    return {"size": size, "sha256": sha}


def _pump(
    source: Any,
    fd: int,
    length: int,
    digest: Any,
    behind: WriteBehind,
    progress: Optional[Callable[[int], None]],
) -> None:
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    remaining = length
    since_sync = 0
    while remaining > 0:
        n = source.readinto(view[: min(CHUNK, remaining)])
        if not n:
            raise EOFError(f"the stream ended {remaining} bytes short")
        chunk = view[:n]
        _write_all(fd, chunk)
        digest.update(chunk)
        remaining -= n
        since_sync += n
        if since_sync >= WRITEBEHIND_BYTES:
            behind.kick()
            since_sync = 0
        if progress is not None:
            progress(length - remaining)
