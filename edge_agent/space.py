"""Disk space in the agent's home: leftover uploads, what they hold, and sweeping them.

An interrupted push leaves `inbox/<sha256>.partial`; the next deploy of the
same model resumes it, so it is worth its bytes. Partials of *other* models
are not: they are removed when older than a day, and at once when a deploy
needs the space (only while that deploy holds the device lock, so no push of
another deploy is in flight). An upload's digest record goes with it.
Benchmark copies in `scratch/` older than a day go too.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from edge_agent import layout

STALE_S = 24 * 3600.0
"""A leftover upload of another model older than this is removed."""

_PARTIAL = re.compile(r"^([0-9a-f]{64})\.partial$")
_SCRATCH = re.compile(r"^([0-9a-f]{64})\.(partial|tflite)$")


def _entries(directory: Path, pattern: re.Pattern[str]) -> List[Dict[str, Any]]:
    found: List[Dict[str, Any]] = []
    now = time.time()
    if not directory.is_dir():
        return found
    for path in directory.iterdir():
        match = pattern.match(path.name)
        if not match:
            continue
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append(
            {
                "path": path,
                "sha256": match.group(1),
                "bytes": stat.st_size,
                "age_s": round(max(0.0, now - stat.st_mtime), 1),
            }
        )
    return found


def partials(home: Path) -> List[Dict[str, Any]]:
    """Returns the uploads waiting in inbox/: [{"sha256", "bytes", "age_s"}] (for `info`)."""
    return layout.partials(str(home))


def free_bytes(home: Path) -> int:
    """Returns the free bytes of the filesystem holding `home`."""
    st = os.statvfs(str(home))
    return int(st.f_bavail * st.f_frsize)  # shutil.disk_usage's "free"


def sweep(home: Path, keep_sha: Optional[str] = None, need_bytes: int = 0) -> Dict[str, Any]:
    """Removes stale leftovers; with `need_bytes`, other models' partials until that is free.

    Never touches the partial of `keep_sha`. Returns {"removed": [names],
    "freed_bytes", "disk_free_bytes"}. The caller holds the device lock.
    """
    removed: List[str] = []
    freed = 0
    inbox = [e for e in _entries(home / "inbox", _PARTIAL) if e["sha256"] != keep_sha]
    scratch = _entries(home / "scratch", _SCRATCH)
    doomed = [e for e in inbox + scratch if e["age_s"] > STALE_S]
    spare = sorted((e for e in inbox if e not in doomed), key=lambda e: -e["age_s"])
    for entry in doomed:
        freed += _remove(entry, removed)
    for entry in spare:  # oldest first, and only as long as space is still short
        if not need_bytes or free_bytes(home) >= need_bytes:
            break
        freed += _remove(entry, removed)
    _forget_orphan_records(home / "inbox")
    return {"removed": removed, "freed_bytes": freed, "disk_free_bytes": free_bytes(home)}


def _remove(entry: Dict[str, Any], removed: List[str]) -> int:
    path: Path = entry["path"]
    try:
        path.unlink()
    except OSError:
        return 0
    removed.append(f"{path.parent.name}/{path.name}")
    return int(entry["bytes"])


def _forget_orphan_records(inbox: Path) -> None:
    """Removes digest records whose upload is gone (removed here, or by a person)."""
    from edge_agent.inbox import RECORD_SUFFIX

    if not inbox.is_dir():
        return
    for record in inbox.glob(f"*{RECORD_SUFFIX}"):
        if not record.with_name(record.name[: -len(RECORD_SUFFIX)]).exists():
            record.unlink(missing_ok=True)
