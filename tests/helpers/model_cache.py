"""Generated test models, cached on disk once per machine, keyed by what makes them.

A fixture that trains or converts a model hands its builder to `cached()`:
`build(folder)` writes files into an empty folder. The entry's key is a hash of

- the builder's source code, and the source of every module or function it names
  in `sources` (a helper it calls, the product code that trains the demo's CNN);
- the versions of the packages that make the bytes (TensorFlow, Keras, numpy, and
  any named in `packages`), read with `importlib.metadata`, so TensorFlow is not
  imported to compute a key;
- `params` (a seed, a size) and the Python version and machine.

A change to any of them is a new entry; nothing needs invalidating by hand. Entries
live under `$TFSTUDIO_TEST_CACHE` (default `/var/tmp/tfstudio-test-cache`), one
folder per entry, `<name>-<key>`. An entry is built in a temporary folder beside
it and renamed into place when whole (with `key.json`, what the key was made of),
under a file lock, so a killed run leaves no half entry and two sessions never
build the same one twice. Removing the folder is always safe.

`cached_copy()` copies an entry into a session temp folder: tests may write next
to the files they get (a manifest beside a model) without touching the cache. A
builder hands back values besides files (an accuracy) with `write_info()`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

CACHE_ENV = "TFSTUDIO_TEST_CACHE"
DEFAULT_ROOT = "/var/tmp/tfstudio-test-cache"
FORMAT = 1
"""Bump to drop every entry (a change in how entries are laid out)."""
PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "numpy")
"""Packages whose version is part of every key (a missing one counts as absent)."""
KEY_CHARS = 20
KEEP_DAYS = 14
"""Entries of the same name not used for this long are removed when a new one is built."""

built: list[str] = []
"""Entries this process built (the tier plugin reports them at the end of a run)."""
used: list[str] = []
"""Entries this process read."""


def root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_ROOT)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _source(item: object) -> str:
    if isinstance(item, Path):
        return item.read_text()
    if isinstance(item, str):  # a module name: its file, without importing it
        spec = importlib.util.find_spec(item)
        if spec is None or spec.origin is None:
            raise ValueError(f"model cache: no module {item!r} to key on")
        return Path(spec.origin).read_text()
    if isinstance(item, ModuleType) or callable(item):
        return inspect.getsource(item)  # type: ignore[arg-type]
    raise TypeError(f"model cache: cannot key on {item!r}")


def key_of(
    name: str,
    build: Callable[[Path], Any],
    *,
    sources: Iterable[object] = (),
    params: dict[str, Any] | None = None,
    packages: Iterable[str] = (),
) -> tuple[str, dict[str, Any]]:
    """(hex key, what it was made of) for an entry."""
    made_of = {
        "format": FORMAT,
        "name": name,
        "builder": _source(build),
        "sources": [_source(s) for s in sources],
        "packages": {p: _version(p) for p in (*PACKAGES, *packages)},
        "params": params or {},
        "python": list(sys.version_info[:2]),
        "machine": platform.machine(),
    }
    text = json.dumps(made_of, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_CHARS], made_of


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune(base: Path, name: str, keep: Path) -> None:
    """Removes other entries of `name` unused for KEEP_DAYS (and their locks), and what
    killed builds of `keep` left (we hold its lock: no one is building them)."""
    cutoff = time.time() - KEEP_DAYS * 86400
    entry = re.compile(rf"{re.escape(name)}-[0-9a-f]{{{KEY_CHARS}}}")
    for other in base.iterdir():
        if other != keep and entry.fullmatch(other.name) and other.stat().st_mtime < cutoff:
            shutil.rmtree(other, ignore_errors=True)
            (base / f".{other.name}.lock").unlink(missing_ok=True)
    for half in base.glob(f".{keep.name}.*"):
        if half.is_dir():
            shutil.rmtree(half, ignore_errors=True)


def cached(
    name: str,
    build: Callable[[Path], Any],
    *,
    sources: Iterable[object] = (),
    params: dict[str, Any] | None = None,
    packages: Iterable[str] = (),
) -> Path:
    """The folder of entry `name` for this key, built with `build(folder)` if missing.

    Do not write into it: use `cached_copy()` when a test may write beside the files.
    """
    key, made_of = key_of(name, build, sources=sources, params=params, packages=packages)
    base = root()
    entry = base / f"{name}-{key}"
    if not entry.is_dir():
        base.mkdir(parents=True, exist_ok=True)
        with _locked(base / f".{entry.name}.lock"):
            if not entry.is_dir():
                _prune(base, name, entry)
                staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=base))
                try:
                    build(staging)
                    (staging / "key.json").write_text(json.dumps(made_of, indent=1) + "\n")
                    staging.chmod(0o755)
                    os.rename(staging, entry)
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
                built.append(name)
    with contextlib.suppress(OSError):
        os.utime(entry)  # in use: not pruned
    used.append(name)
    return entry


def cached_copy(
    name: str,
    build: Callable[[Path], Any],
    into: Path,
    *,
    sources: Iterable[object] = (),
    params: dict[str, Any] | None = None,
    packages: Iterable[str] = (),
) -> tuple[Path, dict[str, Any]]:
    """`cached()`, copied into the folder `into` (an empty one, or one to create).

    Returns (`into`, the entry's `info.json`: what the builder had to say besides its
    files, such as an accuracy; {} without one). Neither `info.json` nor `key.json` is
    copied, so `into` holds exactly the files the builder made.
    """
    entry = cached(name, build, sources=sources, params=params, packages=packages)
    shutil.copytree(
        entry, into, ignore=shutil.ignore_patterns("key.json", "info.json"), dirs_exist_ok=True
    )
    info = entry / "info.json"
    return into, (json.loads(info.read_text()) if info.exists() else {})


def write_info(folder: Path, **values: Any) -> None:
    """For a builder: values to hand back with the files (`cached_copy()`'s second item)."""
    (folder / "info.json").write_text(json.dumps(values))
