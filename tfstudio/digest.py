"""sha256 of files and folders, streamed: the studio's one way to name a model by its content.

A folder's digest follows symbolic links: an export whose `variables/` links
elsewhere is named by the weights it serves, so changed weights are a new export.

Also the digest records: a model's sha256 kept with its file identity, so a file
that was hashed (or written by a conversion) is not read again while it is unchanged.
"""

from __future__ import annotations

import hashlib
import json
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


RECORDS_DIR = "digests"
"""Under TFSTUDIO_HOME: one record per model file, `<sha256 of its resolved path>.json`."""


def file_identity(st: os.stat_result) -> list[int]:
    """Returns (st_dev, st_ino, st_size, st_mtime_ns): a write or a replace changes it.

    The agent trusts its uploads' digests by the same identity (edge_agent.inbox).
    """
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _record_path(path: Path, records: Path) -> Path:
    key = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:32]
    return records / f"{key}.json"


def remember_sha256(path: Path, sha256: str, st: os.stat_result, records: Path) -> None:
    """Records `sha256` as the digest of `path` while it keeps the identity of `st`.

    Best effort: a record that cannot be written only costs a later re-hash.
    """
    from tfstudio.atomic import write_text_atomic

    record = {"path": str(Path(path).resolve()), "identity": file_identity(st), "sha256": sha256}
    try:
        records.mkdir(parents=True, exist_ok=True)
        write_text_atomic(_record_path(path, records), json.dumps(record))
    except OSError:
        pass


def recorded_sha256(path: Path, records: Path) -> str | None:
    """Returns the recorded sha256 of `path` while its identity is the recorded one, else None.

    Raises OSError when `path` itself cannot be stat'ed.
    """
    st = Path(path).stat()
    try:
        record = json.loads(_record_path(path, records).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("identity") != file_identity(st):
        return None
    if record.get("path") != str(Path(path).resolve()):
        return None
    sha = record.get("sha256")
    return sha if isinstance(sha, str) and len(sha) == 64 else None


def trusted_sha256(path: Path, records: Path) -> str:
    """Returns the sha256 of `path`: the recorded one while its identity holds, else hashed
    (and recorded).

    A conversion records the digest of what it wrote, a deploy of what it read, so a
    model deployed again is not read twice. Raises OSError when `path` cannot be read.
    """
    known = recorded_sha256(path, records)
    if known is not None:
        return known
    st = Path(path).stat()
    sha = file_sha256(path)
    if file_identity(Path(path).stat()) == file_identity(st):  # unchanged while hashed
        remember_sha256(path, sha, st, records)
    return sha
