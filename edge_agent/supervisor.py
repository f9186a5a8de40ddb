"""The agent's own supervisor: keeps `serve` running for a home when systemd cannot.

One supervisor per home: it holds `service.lock` with flock while it lives (so
a second one exits at once and `status` can trust the lock over a pid) and
records itself in `service.pid`. It starts `serve`, appends its output to
`logs/serve.log` (rotated past 1 MiB), and after a crash records the exit and
the log's last line, waits (1 s doubling to 30 s; back to 1 s after a minute
up) and starts it again. SIGTERM stops it: serve gets SIGTERM, then SIGKILL
if it is still there 10 s later. serve dies with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from edge_agent import fsutil
from edge_agent.errors import AgentError
from edge_agent.service import (
    DEFAULT_PORT,
    LOCK_FILE,
    LOG_FILE,
    PID_FILE,
    SERVICE_FILE,
    STATE_FILE,
    STOP_WAIT_S,
    TOKEN_ENV,
    env_with_agent,
    read_token,
    serve_argv,
)
from edge_agent.store import Store, utc_now

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
HEALTHY_S = 60.0
"""A serve that stayed up this long starts the backoff afresh when it next crashes."""
LOG_MAX_BYTES = 1 << 20
"""serve.log is rotated to serve.log.1 beyond this, so a crash loop cannot fill the disk."""


def _death_signal() -> Optional[Callable[[], None]]:
    """Returns a function that, run in a forked child, asks the kernel for SIGTERM when its
    parent dies (Linux prctl PR_SET_PDEATHSIG); None elsewhere. libc is loaded here, in the
    parent, so the child only makes the call."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def arm() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)

    return arm


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _last_log_line(path: Path, since: int) -> Optional[str]:
    """Returns the last line serve wrote after offset `since` (its own run), if any."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(since, handle.tell() - 4096))
            lines = [ln.strip() for ln in handle.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return None
    lines = [ln for ln in lines if ln and not ln.startswith("{")]
    return lines[-1][:300] if lines else None


def _rotate(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_size > LOG_MAX_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))


class _Supervisor:
    """The supervisor's state: its serve child, restarts, and whether it was asked to stop."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.child: Optional[subprocess.Popen[bytes]] = None
        self.stop_asked: Optional[float] = None
        self.state: Dict[str, Any] = {"supervisor_pid": os.getpid(), "restarts": 0}
        self.env = env_with_agent()
        token = read_token(home)
        if token:
            self.env[TOKEN_ENV] = token
        self.log_path = home / "logs" / LOG_FILE
        self.arm_death_signal = _death_signal()
        self.log_offset = 0

    def on_signal(self, signum: int, frame: Any) -> None:
        """SIGTERM/SIGINT: stop restarting, and pass SIGTERM on to serve."""
        if self.stop_asked is None:
            self.stop_asked = time.monotonic()
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)

    def save(self, **changes: Any) -> None:
        """Records the state (atomically) for `status`."""
        self.state.update(changes)
        with contextlib.suppress(OSError, AgentError):
            fsutil.write_json_atomic(self.home / STATE_FILE, self.state)

    def start(self) -> None:
        """Starts serve, its output appended to serve.log."""
        _rotate(self.log_path)
        self.log_offset = _log_size(self.log_path)
        with open(self.log_path, "ab") as log:
            self.child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                serve_argv(self.home, self.port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env,
                cwd=str(self.home),
                preexec_fn=self.arm_death_signal,  # the supervisor is single-threaded
            )
        self.save(serve_pid=self.child.pid, serve_started_at=utc_now())

    def wait(self) -> int:
        """Waits for serve to end; kills it when it outlives a stop request by STOP_WAIT_S."""
        assert self.child is not None
        while True:
            try:
                return self.child.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                asked = self.stop_asked
                if asked is not None and time.monotonic() - asked > STOP_WAIT_S:
                    self.child.kill()

    def run(self) -> None:
        """Starts serve and restarts it after each crash until asked to stop."""
        backoff = BACKOFF_FIRST_S
        try:
            while self.stop_asked is None:
                self.start()
                started = time.monotonic()
                code = self.wait()
                if self.stop_asked is not None:
                    break
                self.save(
                    restarts=self.state["restarts"] + 1,
                    last_exit=_describe_exit(code),
                    last_exit_at=utc_now(),
                    # A crash by signal leaves no words of its own; an exit with an
                    # error leaves its one-line error last.
                    last_error=_last_log_line(self.log_path, self.log_offset) if code > 0 else None,
                    serve_pid=None,
                )
                if time.monotonic() - started > HEALTHY_S:
                    backoff = BACKOFF_FIRST_S
                deadline = time.monotonic() + backoff
                while self.stop_asked is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
        finally:
            if self.child is not None and self.child.poll() is None:
                self.on_signal(signal.SIGTERM, None)
                self.wait()
            self.save(serve_pid=None, supervisor_pid=None)


def supervise(store: Store) -> None:
    """The supervisor process: holds service.lock, runs serve and restarts it after a
    crash, stops it on SIGTERM. Returns at once when another supervisor holds the home."""
    home = store.home
    config = fsutil.read_json(home / SERVICE_FILE, default=None) or {}
    fd = os.open(str(home / LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    if not fsutil.try_flock(fd):
        os.close(fd)
        return
    try:
        pid = os.getpid()
        me = {"pid": pid, "pid_start": fsutil.pid_start(pid), "started_at": utc_now()}
        fsutil.write_json_atomic(home / PID_FILE, me)
        supervisor = _Supervisor(home, int(config.get("port", DEFAULT_PORT)))
        signal.signal(signal.SIGTERM, supervisor.on_signal)
        signal.signal(signal.SIGINT, supervisor.on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        supervisor.run()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(home / PID_FILE)
        os.close(fd)
