"""Atomic file writes for the studio: temp file in the same directory, fsync, rename.

A reader (or a crash) never sees a half-written file at the final name.
`write_files_atomic` writes several files that belong together (a model and its
manifest): all temp files first, then the renames, so a full disk leaves none.
Files a user shares (models, manifests) are written `shared`: with the mode an
ordinary `open` would give (0666 less the umask), not the temp file's 0600.
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


def current_umask() -> int:
    """Returns the process's umask without changing it (Linux reads it from /proc; elsewhere
    it is set and restored at once)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_writer(final: Path, *, shared: bool = False) -> Iterator[BinaryIO]:
    """Yields a binary file; on clean exit it is fsynced and renamed onto `final`.

    `shared`: the file gets 0666 less the umask (else the temp file's 0600).
    On any exception the temp file is removed and `final` is untouched.
    Raises OutputError when the directory is not writable.
    """
    with _temp_file(final, shared=shared) as (handle, tmp):
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(tmp, final)
    _fsync_dir(final.parent)


@contextlib.contextmanager
def _temp_file(final: Path, *, shared: bool) -> Iterator[tuple[BinaryIO, str]]:
    """Yields (an open temp file beside `final`, its path); removes it on any exception."""
    directory = final.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=".part", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write to {directory}: {exc.strerror}") from exc
    handle = os.fdopen(fd, "wb")
    try:
        if shared:
            os.fchmod(fd, 0o666 & ~current_umask())
        yield handle, tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        # The writers flush, fsync and close before renaming; after a failed write
        # (a full disk) closing would flush the same bytes and fail again.
        with contextlib.suppress(OSError):
            handle.close()


def write_bytes_atomic(final: Path, data: bytes, *, shared: bool = False) -> None:
    """Writes `data` to `final` atomically (`shared`: see `atomic_writer`).

    Raises OutputError on OS errors."""
    try:
        with atomic_writer(final, shared=shared) as handle:
            handle.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {final}: {exc.strerror}") from exc


def write_files_atomic(files: list[tuple[Path, bytes]], *, shared: bool = False) -> None:
    """Writes files that belong together: every temp file is written and fsynced first,
    then each is renamed in order, so a full disk or an error leaves none of them new.

    Raises OutputError on OS errors (naming the file that could not be written).
    """
    with contextlib.ExitStack() as stack:
        temps: list[tuple[str, Path]] = []
        for final, data in files:
            try:
                handle, tmp = stack.enter_context(_temp_file(final, shared=shared))
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
            except OSError as exc:
                raise OutputError(f"cannot write {final}: {exc.strerror}") from exc
            temps.append((tmp, final))
        try:
            for tmp, final in temps:
                os.replace(tmp, final)
        except OSError as exc:
            raise OutputError(f"cannot write {final}: {exc.strerror}") from exc
    for directory in dict.fromkeys(final.parent for _tmp, final in temps):
        _fsync_dir(directory)


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
