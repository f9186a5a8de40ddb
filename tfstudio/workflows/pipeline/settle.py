"""Which folders under a watched directory are SavedModels, and when one is complete.

A SavedModel counts as complete only when `saved_model.pb` and `variables/`
both exist, nothing in it looks like a writer's temporary, and its files (names,
sizes, modification times, symbolic links followed) have stayed the same for
the settle time. A
half-written export (the .pb without variables, variables still growing, a
`*_temp` folder TensorFlow renames at the end) is never handed on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tfstudio.digest import tree_files

SAVED_MODEL_PB = "saved_model.pb"
VARIABLES = "variables"

Snapshot = tuple[tuple[str, int, int], ...]
"""(relative path, size, mtime_ns) of every file, sorted."""


def find_saved_models(root: Path, links: list[Path] | None = None) -> Iterator[Path]:
    """Yields every folder under `root` (itself included) holding a saved_model.pb.

    A SavedModel's own folders are not searched further; hidden folders are
    skipped (editors and sync tools keep their temporaries there). Folders that
    are symbolic links are not followed (a link can loop, or lead out of the
    watched tree); those that lead to a SavedModel are added to `links`, so the
    caller can say so instead of ignoring them without a word.
    """
    for dirpath, dirnames, filenames in os.walk(root):
        if SAVED_MODEL_PB in filenames:
            dirnames[:] = []
            yield Path(dirpath)
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if links is not None:
            links.extend(
                Path(dirpath, d)
                for d in dirnames
                if os.path.islink(os.path.join(dirpath, d)) and _holds_saved_model(Path(dirpath, d))
            )


def _holds_saved_model(folder: Path) -> bool:
    """True when `folder` or one of its subfolders holds a saved_model.pb (a version)."""
    try:
        if (folder / SAVED_MODEL_PB).is_file():
            return True
        return any((sub / SAVED_MODEL_PB).is_file() for sub in folder.iterdir() if sub.is_dir())
    except OSError:
        return False


def snapshot(model: Path) -> Snapshot | None:
    """Returns the files of a SavedModel folder, or None while it is visibly incomplete."""
    if not (model / SAVED_MODEL_PB).is_file() or not (model / VARIABLES).is_dir():
        return None
    found: list[tuple[str, int, int]] = []
    try:
        # Links followed: a `variables/` linked from elsewhere is part of the export, and
        # new weights behind the link are a change like any other.
        for rel in tree_files(model):
            if "_temp" in rel or rel.endswith((".tmp", ".partial")):
                return None  # TensorFlow writes variables_temp/ and renames it last
            stat = (model / rel).stat()
            found.append((rel, stat.st_size, stat.st_mtime_ns))
    except OSError:
        return None  # a file vanished while we looked (or a link leads nowhere)
    names = {rel for rel, _size, _mtime in found}
    has_data = any(rel.startswith(f"{VARIABLES}/variables.data") for rel in names)
    if has_data and f"{VARIABLES}/variables.index" not in names:
        return None
    return tuple(sorted(found))


@dataclass
class _Seen:
    snap: Snapshot | None
    since: float


class SettleTracker:
    """Remembers each candidate's last snapshot and since when it has not changed."""

    def __init__(self, settle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle_s = settle_s
        self.clock = clock
        self._seen: dict[Path, _Seen] = {}

    def observe(self, model: Path) -> Snapshot | None:
        """Looks at `model` now; returns its snapshot once it has settled, else None."""
        snap = snapshot(model)
        now = self.clock()
        seen = self._seen.get(model)
        if seen is None or seen.snap != snap:
            self._seen[model] = _Seen(snap, now)
            return snap if snap is not None and self.settle_s <= 0 else None
        if snap is not None and now - seen.since >= self.settle_s:
            return snap
        return None

    def pending(self) -> list[Path]:
        """Returns the candidates seen but not (yet) settled or complete."""
        now = self.clock()
        return [
            path
            for path, seen in self._seen.items()
            if seen.snap is None or now - seen.since < self.settle_s
        ]

    def incomplete(self) -> list[Path]:
        """Returns the candidates whose last look found them incomplete."""
        return [path for path, seen in self._seen.items() if seen.snap is None]

    def forget_missing(self) -> None:
        """Drops candidates whose folder has gone (a removed or renamed export)."""
        for path in [p for p in self._seen if not p.exists()]:
            del self._seen[path]
