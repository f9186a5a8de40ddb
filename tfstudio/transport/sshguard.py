"""Deadlines for one SSH connection: no call waits forever on a device that stopped answering.

paramiko waits without a deadline in several places: the reply to a channel
request, a send window that never reopens, an SFTP reply. A frozen device (a
stopped sshd, a dead link that TCP has not noticed yet) would hold such a
call, and with it a whole fleet command, for good. So every call on the
connection runs under `Watchdog.watch`: a thread notes when the call last made
progress (bytes moved, `kick`) and, after `stall_s` without any,

- for a transfer: declares the connection stalled;
- for a command or a request: first asks the connection whether it is alive
  (opening a channel needs an answer from the device's sshd, like OpenSSH's
  ServerAliveInterval); a live connection means the command is merely slow
  (its own deadline still applies), a silent one is stalled.

Stalled, it calls `on_stall(message)`, which closes the connection: the
blocked call wakes with an error that the transport words as
"no progress for N s while ...".
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator


class Watchdog:
    """Watches the calls on one connection; one daemon thread, stopped by `stop()`."""

    def __init__(
        self,
        name: str,
        stall_s: float,
        *,
        probe: Callable[[float], bool],
        on_stall: Callable[[str], None],
    ) -> None:
        self.stall_s = stall_s
        self.stalled: str | None = None
        self._probe = probe
        self._on_stall = on_stall
        self._lock = threading.Lock()
        self._calls: list[tuple[str, bool]] = []
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ssh-watchdog-{name}", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def watch(self, what: str, *, probe: bool) -> Iterator[None]:
        """Marks a call in progress (`what` names it in the stall message).

        `probe`: whether silence may be a slow command on a live connection
        (True) or means the connection is stuck (False: a transfer).
        """
        with self._lock:
            self._calls.append((what, probe))
            self._last = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._calls.remove((what, probe))
                self._last = time.monotonic()

    def kick(self) -> None:
        """Notes progress (bytes moved) on the current call."""
        self._last = time.monotonic()

    def stop(self) -> None:
        """Ends the watchdog thread (the connection is closing)."""
        self._stop.set()

    def _run(self) -> None:
        tick = min(1.0, max(0.05, self.stall_s / 4))
        while not self._stop.wait(tick):
            with self._lock:
                current = self._calls[-1] if self._calls else None
                idle = time.monotonic() - self._last
            if current is None or idle < self.stall_s:
                continue
            what, may_probe = current
            if may_probe and self._probe(self.stall_s):
                self.kick()  # the device answers: the command is slow, not stuck
                continue
            if self._stop.is_set():
                return
            self.stalled = f"no progress for {self.stall_s:g} s while {what}"
            self._on_stall(self.stalled)
            return
