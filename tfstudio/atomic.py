"""Atomic file writes for the studio: temp file in the same directory, fsync, rename.

A reader (or a crash) never sees a half-written file at the final name.
`file_lock` is the studio's inter-process lock for read-modify-write of such files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from edge_agent.fsutil import pid_alive
from tfstudio.errors import OutputError

TEMP_PREFIX = ".tfstudio-tmp-"
"""Temp files start with this and the writer's pid, so `sweep_stale_temps` can
find the leftovers of a killed run and tell them from a live writer's."""


def temp_prefix() -> str:
    """Returns the name prefix of this process's temp files (TEMP_PREFIX + pid)."""
    return f"{TEMP_PREFIX}{os.getpid()}-"


@contextlib.contextmanager
def atomic_writer(final: Path) -> Iterator[BinaryIO]:
    """Yields a binary file; on clean exit it is fsynced and renamed onto `final`.

    On any exception the temp file is removed and `final` is untouched.
    Raises OutputError when the directory is not writable.
    """
    directory = final.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=".part", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write to {directory}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def write_bytes_atomic(final: Path, data: bytes) -> None:
    """Writes `data` to `final` atomically. Raises OutputError on OS errors."""
    try:
        with atomic_writer(final) as handle:
            handle.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {final}: {exc.strerror}") from exc


def write_text_atomic(final: Path, text: str) -> None:
    """Writes UTF-8 `text` to `final` atomically. Raises OutputError on OS errors."""
    write_bytes_atomic(final, text.encode("utf-8"))


def sweep_stale_temps(directory: Path) -> list[Path]:
    """Removes temp files in `directory` left by writers that no longer run.

    A SIGKILL between "temp written" and "renamed" leaves one behind; it never
    has a final name, but it wastes space. Files of live processes are kept.
    Returns the paths removed.
    """
    removed: list[Path] = []
    try:
        entries = list(directory.glob(f"{TEMP_PREFIX}*"))
    except OSError:
        return removed
    for path in entries:
        pid_text = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Holds an exclusive flock on `path` (created if missing) for the block.

    The kernel drops it when the holder dies, so a killed CLI never wedges the
    file it guarded. Raises OutputError when the lock file cannot be created.
    """
    try:
        handle = open(path, "a+b")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise OutputError(f"cannot create lock file {path}: {exc.strerror}") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LockHeld(Exception):
    """Another process holds the lock; `holder` is what it wrote there (maybe empty)."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        super().__init__(f"{path} is held by {holder or 'another process'}")
        self.path = path
        self.holder = holder


@contextlib.contextmanager
def held_lock(path: Path, holder: dict[str, Any]) -> Iterator[None]:
    """Holds an exclusive flock on `path` for the block without waiting for it, with
    `holder` (who, since when) written into the file for whoever finds it taken.

    The kernel drops the lock when the holder dies (kill -9 included). Raises
    LockHeld (with the other holder's words) or OutputError (the file cannot be made).
    """
    try:
        handle = open(path, "a+b")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise OutputError(f"cannot create lock file {path}: {exc.strerror}") from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                found = json.loads(handle.read() or b"{}")
            except ValueError:
                found = {}
            raise LockHeld(path, found if isinstance(found, dict) else {}) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(holder).encode() + b"\n")
            handle.flush()
            yield
        finally:
            with contextlib.suppress(OSError):
                handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry itself is on disk.
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
