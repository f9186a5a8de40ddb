"""Atomic file writes for the studio: temp file in the same directory, fsync, rename.

A reader (or a crash) never sees a half-written file at the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tfstudio.errors import OutputError

TEMP_PREFIX = ".tfstudio-tmp-"
"""Temp files start with this, so a cleanup can find leftovers of a killed run."""


@contextlib.contextmanager
def atomic_writer(final: Path) -> Iterator[BinaryIO]:
    """Yields a binary file; on clean exit it is fsynced and renamed onto `final`.

    On any exception the temp file is removed and `final` is untouched.
    Raises OutputError when the directory is not writable.
    """
    directory = final.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=directory)
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


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry itself is on disk.
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
