"""sha256 of files, streamed: the studio's one way to name a model by its content."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20
"""Bytes hashed per read: big enough that the per-call cost is noise."""


def file_sha256(path: Path, length: int | None = None) -> str:
    """Returns the hex sha256 of `path`, or of its first `length` bytes.

    Raises OSError when the file cannot be read.
    """
    digest = hashlib.sha256()
    left = Path(path).stat().st_size if length is None else length
    with open(path, "rb") as handle:
        while left > 0:
            block = handle.read(min(left, CHUNK))
            if not block:
                break
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()
