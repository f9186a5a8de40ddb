"""sha256 of files and folders, streamed: the studio's one way to name a model by its content.

A folder's digest follows symbolic links: an export whose `variables/` links
elsewhere is named by the weights it serves, so changed weights are a new export.
"""

from __future__ import annotations

import hashlib
import os
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


def tree_files(root: Path) -> list[str]:
    """Returns the files under `root` as sorted relative POSIX paths, symbolic links
    followed (a linked `variables/` is part of the export it sits in); a folder reached
    twice through links (a loop) is read once."""
    seen: set[tuple[int, int]] = set()
    files: list[str] = []
    for dirpath, dirnames, names in os.walk(root, followlinks=True):
        try:
            here = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (here.st_dev, here.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((here.st_dev, here.st_ino))
        rel = Path(dirpath).relative_to(root)
        files.extend((rel / name).as_posix() for name in names)
    return sorted(files)


def tree_sha256(root: Path) -> str:
    """Digest of a folder: each file's relative path and sha256, in sorted order, symbolic
    links followed (the digest covers what a reader of the folder gets).

    Raises OSError when a file cannot be read (a dangling link included)."""
    digest = hashlib.sha256()
    for rel in tree_files(root):
        digest.update(f"{rel}\0{file_sha256(root / rel)}\n".encode())
    return digest.hexdigest()
