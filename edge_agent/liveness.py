"""Is a process alive, is a lock file's flock held: asked of the kernel with `os` and `fcntl` alone.

`info` reports whether the agent service runs (see `servicestate`), and `info`
is the agent's cold start, so these probes import nothing else; `fsutil`,
`devicelock` and `service` use the same ones.
"""

from __future__ import annotations

import errno
import fcntl
import os


def pid_alive(pid: int) -> bool:
    """Returns True when a process with this pid exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def try_flock(fd: int) -> bool:
    """Takes the exclusive flock on `fd` without waiting; returns False when another holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False


def flock_held(path: str) -> bool:
    """True while some live process holds the flock on the file at `path` (the kernel drops
    it when its holder dies, so this never trusts a pid). A missing file is not held."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        return not try_flock(fd)
    finally:
        os.close(fd)
