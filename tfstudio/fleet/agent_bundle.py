"""Builds `tfstudio-agent.pyz`, the single-file edge agent the studio pushes to devices.

The zipapp holds every .py file of the installed `edge_agent` package, its
sub-packages included, and a `__main__.py` that runs its CLI, so `python3
tfstudio-agent.pyz --home DIR COMMAND` works on any device with Python 3.9+,
numpy and a LiteRT runtime (with bytecode for the builder's Python version,
used when the device's matches). The archive is deterministic (sorted entries,
fixed mtimes and modes): the same source gives the same sha256, so the studio
can tell whether a device's agent is current by its hash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipapp
from pathlib import Path

from tfstudio.atomic import write_bytes_atomic
from tfstudio.errors import OutputError

AGENT_PYZ_NAME = "tfstudio-agent.pyz"
INTERPRETER = "/usr/bin/env python3"
FIXED_MTIME = 315532800  # 1980-01-01, the earliest time a zip entry can carry
ENTRY = "edge_agent.cli:main"


def _agent_source() -> Path:
    import edge_agent

    return Path(edge_agent.__file__).resolve().parent


def agent_files(source: Path | None = None) -> list[str]:
    """Returns the package's source files the bundle carries, relative to the package
    (`bench.py`, `sub/__init__.py`, ...): every .py file at any depth, sorted."""
    source = source or _agent_source()
    return sorted(
        p.relative_to(source).as_posix()
        for p in source.rglob("*.py")
        if "__pycache__" not in p.relative_to(source).parts
    )


def _stage(staging: Path, source: Path) -> None:
    package = staging / "edge_agent"
    package.mkdir()
    for name in agent_files(source):
        target = package / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target)
    # zipimport cannot cache bytecode, so without these every start recompiles the agent.
    # Hash-based pycs (no mtime) next to the sources, where zipimport looks; a device
    # whose Python has another bytecode magic number ignores them and uses the sources.
    # A fresh isolated interpreter compiles them: marshal's output depends on the
    # interpreter's state (shared references), so compiling in-process is not reproducible.
    subprocess.run(
        [sys.executable, "-I", "-m", "compileall", "-q", "-b", "-d", "edge_agent",
         "--invalidation-mode", "unchecked-hash", str(package)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    main = staging / "__main__.py"
    main.write_text(
        '"""tfstudio-agent.pyz entry point."""\n'
        "import sys\n\n"
        "from edge_agent.cli import main\n\n"
        "sys.exit(main())\n",
        encoding="utf-8",
    )
    for path in [staging, package, *staging.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def build_agent_bytes(source: Path | None = None) -> bytes:
    """Returns the bytes of the agent zipapp built from the installed `edge_agent` (or the
    package folder `source`)."""
    with tempfile.TemporaryDirectory(prefix="tfstudio-agent-") as tmp:
        staging = Path(tmp) / "src"
        staging.mkdir()
        _stage(staging, source or _agent_source())
        target = Path(tmp) / AGENT_PYZ_NAME
        # zipapp walks the source sorted and records file mtimes and modes, all fixed above.
        zipapp.create_archive(staging, target, interpreter=INTERPRETER, compressed=True)
        return target.read_bytes()


def build_agent_pyz(dest: Path) -> Path:
    """Writes the agent zipapp to `dest` (a file path, or a directory to put it in) atomically.

    Returns the path written. Raises OutputError when it cannot be written.
    """
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / AGENT_PYZ_NAME
    if not dest.parent.is_dir():
        raise OutputError(f"cannot write {dest}: {dest.parent} is not a directory")
    write_bytes_atomic(dest, build_agent_bytes())
    os.chmod(dest, 0o755)  # noqa: S103 - an executable script (shebang), world-readable by design
    return dest


def agent_bundle_sha256() -> str:
    """Returns the sha256 of the zipapp the current source builds (without writing it)."""
    return hashlib.sha256(build_agent_bytes()).hexdigest()
