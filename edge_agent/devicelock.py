"""The device lock: one deploy (or one manual install/activate/rollback/prune) at a time.

`deploy.lock` in the agent home is held with `flock`, so the kernel drops it
when its holder dies. Three kinds of holder:

- an agent session (`session`), for a whole studio deploy: it takes the lock
  with its `lock` request and holds it until its stdin closes, and runs the
  deploy's writes itself;
- the `lock` command, for a deploy by a studio that drives the agent with
  one-shot commands: it holds the lock until its stdin closes (the studio's
  SSH channel), and the deploy's writers name it with `--lock-id ID`;
- a manual writer (a person's `install`, `rollback`, the server's inbox
  pickup), for the length of one command.

The file itself says who holds it ({"id", "pid", "pid_start", "owner",
"started_at"}), so a refused writer can say "device busy: another deploy
(pid N, started at T) holds it". The store lock (`fsutil.store_lock`) still
serialises the writes themselves.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, Optional

from edge_agent import fsutil, liveness
from edge_agent.errors import AgentError

if TYPE_CHECKING:
    pass

LOCK_FILE = "deploy.lock"


def lock_path(home: Path) -> Path:
    """Returns the device lock's file in `home`."""
    return home / LOCK_FILE


def read_holder(home: Path) -> Optional[Dict[str, Any]]:
    """Returns what the lock file says about its holder, or None when it says nothing."""
    try:
        with open(lock_path(home), encoding="utf-8") as handle:
            data = json.loads(handle.read() or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_held(home: Path) -> bool:
    """True when some live process holds the device lock right now."""
    return liveness.flock_held(str(lock_path(home)))


def busy_error(holder: Optional[Dict[str, Any]]) -> AgentError:
    """Returns the `locked` error that names the holder (pid, owner, start time)."""
    if holder and holder.get("id"):
        who = f"another deploy (pid {holder.get('pid')}"
        if holder.get("owner"):
            who += f" from {holder['owner']}"
        who += f", started at {holder.get('started_at')})"
    elif holder:
        who = f"another {holder.get('owner') or 'writer'} (pid {holder.get('pid')}, "
        who += f"started at {holder.get('started_at')})"
    else:
        who = "another deploy"
    pid = holder.get("pid") if holder else None
    return AgentError(
        f"device busy: {who} holds it",
        "locked",
        hint="wait for it to finish and try again"
        + (f"; if that deploy is gone, end its lock on the device: kill {pid}" if pid else ""),
    )


class Holding:
    """The device lock, held by this process until `release()` (or its death)."""

    def __init__(self, fd: int, record: Dict[str, Any]) -> None:
        self._fd: Optional[int] = fd
        self.record = record

    @property
    def held(self) -> bool:
        """True until released."""
        return self._fd is not None

    def release(self) -> None:
        """Lets go of the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the flock


def acquire(
    home: Path, wait_s: Optional[float], *, owner: str, lock_id: Optional[str] = None
) -> Holding:
    """Takes the device lock (waiting up to `wait_s`) and records the holder in its file.

    Raises AgentError(locked) naming the holder that kept it past the wait.
    """
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(lock_path(home)), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not fsutil.flock_within(fd, fsutil.lock_wait_s(wait_s)):
            raise busy_error(read_holder(home))
    except BaseException:
        os.close(fd)
        raise
    me = {
        "id": lock_id,
        "pid": os.getpid(),
        "pid_start": fsutil.pid_start(os.getpid()),
        "owner": owner,
        "started_at": fsutil.utc_now(),
    }
    # Who holds it, for a refused writer's message; best effort (a full disk
    # must not stop the lock, which is the flock alone).
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
    return Holding(fd, me)


@contextlib.contextmanager
def hold(
    home: Path, wait_s: Optional[float], *, owner: str, lock_id: Optional[str] = None
) -> Iterator[Dict[str, Any]]:
    """Holds the device lock for the block (see `acquire`); yields the holder record."""
    holding = acquire(home, wait_s, owner=owner, lock_id=lock_id)
    try:
        yield holding.record
    finally:
        holding.release()


def check_held(home: Path, lock_id: str) -> None:
    """Returns when the deploy `lock_id` holds the device lock; raises AgentError(locked) if not."""
    holder = read_holder(home)
    if holder is None or holder.get("id") != lock_id or not is_held(home):
        if holder is not None and holder.get("id") != lock_id and is_held(home):
            raise busy_error(holder)
        raise AgentError(
            f"this deploy's device lock ({lock_id}) is not held (its connection was lost?)",
            "locked",
            hint="run the deploy again",
        )


@contextlib.contextmanager
def writer(
    home: Path, lock_id: Optional[str], wait_s: Optional[float] = None, owner: str = "writer"
) -> Iterator[None]:
    """Lets one write run: inside the deploy `lock_id`, or holding the lock for itself."""
    if lock_id is not None:
        check_held(home, lock_id)
        yield
        return
    with hold(home, wait_s, owner=owner):
        yield


def end_own_stale_holder(home: Path, lock_id: str) -> None:
    """Asks a holder of the same deploy id whose connection dropped or froze to let go.

    SIGTERM: a `lock` process ends at once; an agent session ends at once when
    idle, or once the write it is running has finished and been recorded
    (then the caller's wait for the lock covers it). A stopped holder cannot
    act on it, so it gets SIGKILL (the kernel drops its flock; a write it was
    running is then recorded as interrupted, and the store is crash-safe).
    A holder of another id is never touched.
    """
    holder = read_holder(home)
    if not holder or holder.get("id") != lock_id or not is_held(home):
        return
    pid = int(holder.get("pid") or 0)
    if pid == os.getpid() or not fsutil.same_process(pid, holder.get("pid_start")):
        return
    sig = signal.SIGKILL if _stopped(pid) else signal.SIGTERM
    with contextlib.suppress(OSError):
        os.kill(pid, sig)


def _stopped(pid: int) -> bool:
    """True when process `pid` is stopped (SIGSTOP, or traced), from /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] in (b"T", b"t")
    except (OSError, ValueError):
        return False
