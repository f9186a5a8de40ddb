"""Models a job wrote under `workspace/exports/`: which are new, and their content hashes.

A model counts as new when any of its files was modified at or after the
moment the engine started the container (the engine's clock is the one that
stamps files in a bind mount, so no clock skew enters). Models are SavedModel
directories (with `saved_model.pb`) and `.keras`/`.h5` files, the sources
`tfstudio convert` accepts. Their hash is `convert`'s own
(`tfstudio.models.source.probe_source`), so a job's export joins the convert
manifest's `source.sha256`.

For an engine on this machine the workspace is read in place. For a remote
engine the exports are read through the engine (`get_archive` on the job's
container, which works after the job ended) and the new models are kept under
`TFSTUDIO_HOME/jobs/<id>/exports/`, so they can be converted here.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tfstudio.digest import tree_files
from tfstudio.errors import SourceModelError
from tfstudio.training.client import EngineClient, docker_sdk

EXPORTS = "exports"
CONTAINER_EXPORTS = "/workspace/exports"
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
SAVED_MODEL_PB = "saved_model.pb"
"""The file that makes a folder a SavedModel (as `tfstudio.models.source` defines it)."""


@dataclass(frozen=True)
class ExportedModel:
    """A new model under exports/: where it is, its kind and convert's content hash."""

    path: str
    """Relative to the workspace, e.g. exports/digits."""
    local_path: str
    """Where it is on this machine (the workspace, or the job's copy for a remote engine)."""
    kind: str
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """Returns {path, local_path, kind, sha256}."""
        return dict(self.__dict__)


def scan_local(workspace: Path, started_ns: int) -> list[ExportedModel]:
    """Returns the models under `workspace/exports` changed at or after `started_ns`."""
    root = workspace / EXPORTS
    found: list[ExportedModel] = []
    for model in _models(root):
        if _newest_ns(model) >= started_ns:
            found.append(_describe(model, workspace))
    return sorted(found, key=lambda m: m.path)


def fetch_remote(
    client: EngineClient, container_id: str, started_ns: int, dest: Path
) -> list[ExportedModel]:
    """Copies new models from the container's /workspace/exports into `dest`; returns them.

    `dest` (named `exports`) becomes the job's local view of `workspace/exports`. An absent
    exports directory means no models. Raises EngineError, OutputError.
    """
    docker = docker_sdk()
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        try:
            with client.call("reading the job's exports"):
                chunks, _stat = client.api.get_archive(container_id, CONTAINER_EXPORTS)
                _extract(_ChunkReader(chunks), staging)
        except docker.errors.NotFound:
            return []
        root = staging / EXPORTS
        started_s = started_ns // 1_000_000_000  # tar keeps whole seconds
        keep = [m for m in _models(root) if _newest_ns(m) // 1_000_000_000 >= started_s]
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for model in keep:
            target = dest / model.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(model, target)
        return sorted(
            (_describe(dest / m.relative_to(root), dest.parent) for m in keep),
            key=lambda m: m.path,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _models(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if SAVED_MODEL_PB in filenames:
            dirnames[:] = []  # a SavedModel's own folders hold no other models
            yield here
            continue
        for name in filenames:
            if name.lower().endswith(MODEL_SUFFIXES):
                yield here / name


def _newest_ns(path: Path) -> int:
    if path.is_file():
        return path.stat().st_mtime_ns
    newest = 0
    for rel in tree_files(path):  # links followed, as the export's hash follows them
        with contextlib.suppress(OSError):
            newest = max(newest, (path / rel).stat().st_mtime_ns)
    return newest


def _describe(model: Path, base: Path) -> ExportedModel:
    # convert's own hash, so the export joins the convert manifest's source.sha256.
    from tfstudio.models.source import probe_source

    try:
        info = probe_source(model)
        kind, digest = info.kind.value, info.sha256
    except SourceModelError:
        kind, digest = "unreadable", ""
    rel = model.relative_to(base).as_posix()
    return ExportedModel(path=rel, local_path=str(model), kind=kind, sha256=digest)


def _extract(stream: io.RawIOBase, dest: Path) -> None:
    # Streamed ("r|"): exports can be large. Only plain files and folders with
    # relative, non-escaping names are written; links and devices are skipped.
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            name = PurePosixPath(member.name)
            if name.is_absolute() or ".." in name.parts:
                continue
            target = dest.joinpath(*name.parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    continue
                with open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                os.utime(target, (member.mtime, member.mtime))
            # Folders' times are not needed: only files decide what is new.


class _ChunkReader(io.RawIOBase):
    """A readable stream over the SDK's iterator of byte chunks."""

    def __init__(self, chunks: Any) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
