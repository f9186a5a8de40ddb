"""Crash-safe file primitives for the agent's home: atomic writes, the lock, pause points.

Every file a reader may see is written to a temp name in the same directory,
fsynced, renamed into place, and the directory fsynced, so a crash or power cut
at any instant leaves either the old or the new content. The store lock is an
`fcntl.flock` on a lock file: the kernel drops it when its holder dies, so a
killed agent can never wedge the store.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple

from edge_agent import layout
from edge_agent.errors import AgentError
from edge_agent.liveness import pid_alive, try_flock  # noqa: F401 - part of this module's API

TEMP_PREFIX = ".tmp-"
"""Temp files and directories start with this; `Store.cleanup` removes leftovers."""

LOCK_WAIT_ENV = "TFSTUDIO_AGENT_LOCK_WAIT"
"""Seconds a second writer waits for the lock before failing with `locked` (default 10)."""

PAUSE_ENV = "TFSTUDIO_AGENT_PAUSE_AT"
"""Test hook: names a step (see `pause_point`) where the agent stops and waits to be killed."""

DEFAULT_LOCK_WAIT_S = 10.0

DISK_FULL_HINT = (
    "free space on the device: `prune --keep 1` removes every stored model but the active "
    "one and its rollback target (from the studio: tfstudio prune DEVICE --keep 1)"
)
"""What frees space in the agent's home (install's --keep prunes only after a success)."""


def utc_now() -> str:
    """Returns the current time as ISO-8601 UTC with milliseconds (sorts as text)."""
    now = time.time()
    whole = int(now)
    millis = min(999, int((now - whole) * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def temp_name(directory: Path, stem: str = "") -> Path:
    """Returns a fresh name in `directory` for a temp file or directory (TEMP_PREFIX + random).

    What `tempfile` would give, without its import (random, hashlib...) on the
    agent's short-lived commands. Create it with O_EXCL / mkdir: a clash raises.
    """
    return directory / f"{TEMP_PREFIX}{stem}{os.urandom(6).hex()}"


def make_temp_file(directory: Path, stem: str = "") -> Tuple[int, str]:
    """Creates a new temp file (mode 0600, as `tempfile.mkstemp`) in `directory`; returns
    (a descriptor open for writing, its path)."""
    for _ in range(100):
        path = temp_name(directory, stem)
        try:
            return os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), str(path)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp name in {directory}")


PRIVATE_FILE = 0o600
"""Models and uploads are the owner's alone, in transit as at rest (stored models sit
in 0700 folders; an upload in the inbox is as private)."""

PRIVATE_DIR = 0o700


def private_dir(directory: Path) -> None:
    """Makes `directory` (and missing parents) and leaves it owner-only, also when an
    older agent made it world-readable."""
    directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if directory.stat().st_mode & 0o777 != PRIVATE_DIR:
        os.chmod(directory, PRIVATE_DIR)


def make_temp_dir(directory: Path, stem: str = "") -> Path:
    """Creates a new temp directory (mode 0700, as `tempfile.mkdtemp`) in `directory`."""
    for _ in range(100):
        path = temp_name(directory, stem)
        try:
            path.mkdir(mode=0o700)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp name in {directory}")


def pid_start(pid: int) -> Optional[int]:
    """Returns the start time of process `pid` (clock ticks since boot, from /proc), or None.

    With the pid it names one process for good: a recycled pid has another start time.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        return int(stat[stat.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def same_process(pid: int, start: Optional[int]) -> bool:
    """True when `pid` is alive and (where /proc tells) is the process that started at `start`."""
    if pid <= 0 or not pid_alive(pid):
        return False
    now = pid_start(pid)
    return start is None or now is None or now == start


def fsync_dir(directory: Path) -> None:
    """Makes a rename or create inside `directory` durable."""
    fd = os.open(str(directory), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(final: Path, data: bytes) -> None:
    """Writes `data` to `final` via temp file + fsync + rename. Raises AgentError(disk_full)."""
    with disk_errors(final.parent):
        fd, tmp = make_temp_file(final.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, str(final))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        fsync_dir(final.parent)


def write_json_atomic(final: Path, obj: Any) -> None:
    """Writes `obj` as pretty JSON to `final` atomically."""
    write_bytes_atomic(final, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path, default: Any = None) -> Any:
    """Returns the JSON in `path`, or `default` when it does not exist."""
    return layout.read_json(str(path), default)


def append_line(path: Path, line: str) -> None:
    """Appends one line with a single O_APPEND write and fsyncs it (a report log)."""
    with disk_errors(path.parent):
        fd = os.open(str(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line.rstrip("\n") + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def disk_errors(where: Path) -> Iterator[None]:
    """Turns ENOSPC/EDQUOT into AgentError(disk_full); other OSErrors pass through."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            while where.name.startswith(TEMP_PREFIX):  # name the home, not a temp dir
                where = where.parent
            raise AgentError(
                f"no space left on the device under {where}",
                "disk_full",
                hint="free some space, or prune old models (prune --keep N; from the studio: "
                "tfstudio prune DEVICE --keep N)",
            ) from exc
        raise


def lock_wait_s(wait_s: Optional[float] = None) -> float:
    """Returns `wait_s`, or the wait from TFSTUDIO_AGENT_LOCK_WAIT (default 10 s)."""
    if wait_s is not None:
        return wait_s
    return float(os.environ.get(LOCK_WAIT_ENV, DEFAULT_LOCK_WAIT_S))


def flock_within(fd: int, wait_s: float) -> bool:
    """Takes the exclusive flock on `fd`, waiting up to `wait_s`; False when it stayed taken."""
    deadline = time.monotonic() + wait_s
    while not try_flock(fd):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def store_lock(lock_path: Path, wait_s: Optional[float] = None) -> Iterator[None]:
    """Holds the exclusive store lock; waits up to `wait_s`, then raises AgentError(locked)."""
    fd = os.open(str(lock_path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not flock_within(fd, lock_wait_s(wait_s)):
            raise AgentError(
                f"another install or activation holds the store lock ({lock_path})",
                "locked",
                hint="wait for it to finish and try again",
            )
        # Who holds it, for a human looking at the file; the flock is what counts, so
        # a full disk (prune is how it gets emptied) does not stop a writer here.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def pause_point(step: str) -> None:
    """Test hook for crash-safety tests: when TFSTUDIO_AGENT_PAUSE_AT names `step`,
    announce it on stderr and sleep until killed. A no-op otherwise."""
    if os.environ.get(PAUSE_ENV) != step:
        return
    sys.stderr.write(f"PAUSED {step}\n")
    sys.stderr.flush()
    while True:
        time.sleep(3600)
