"""The warm runtime: one process per agent home that has imported numpy and the runtime, and
forks a fresh runtime child for each agent session that asks.

A cold runtime child costs the device a Python start plus the import of numpy and
the LiteRT runtime (about 0.14 CPU-s here, seconds on a small board) for every
deploy. The warm runtime pays that once: the first session starts it (detached,
in its own session), and every later session's runtime child is a `fork()` of it,
ready at once. Crash isolation is kept: the warm process never loads a model; each
child is a separate process that validates, benches and evaluates, and dies with
the session that asked for it (a crash or a hang there kills only that child).

Protocol, on a Unix socket in a private folder (`socket_path`): the agent connects
(same user only: the peer's uid is checked), sends one JSON line
`{"op": "fork", "env": {...}, "agent_pid": N}` with three file descriptors
(SCM_RIGHTS: the child's stdin, stdout and stderr, pipes the agent made), and
reads `{"pid": N}`. The child then speaks `validate_child`'s serving protocol on
those pipes. When the child ends, the warm process answers `{"exit": code}` on the
same connection (a signal as a negative code, as `subprocess` reports it), so the
agent learns how its child died although it is not its parent.

The warm process leaves after `TFSTUDIO_AGENT_WARM_IDLE_S` (default 600) with no
request and no child, unless the agent's service runs in its home (the service keeps
it: a device that serves a model is one that gets new ones), and at once when its
home is gone; `TFSTUDIO_AGENT_WARM=0` turns it off (every session then
starts a cold child, as agents before 0.6 did). The socket's name is a hash of the
agent home, the interpreter and the agent's code (path, size and mtime of the
bundle), so an upgraded agent or another Python never gets a stale warm process.
Linux only (SO_PEERCRED); elsewhere sessions start cold children.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Dict, List, Optional

ENABLE_ENV = "TFSTUDIO_AGENT_WARM"
IDLE_ENV = "TFSTUDIO_AGENT_WARM_IDLE_S"
DEFAULT_IDLE_S = 600.0
"""How long the warm process waits for a session before it leaves (seconds)."""

START_WAIT_S = 30.0
"""How long an agent waits for a warm process it started to listen (its import)."""

ANSWER_WAIT_S = 10.0
"""How long an agent waits for the warm process's answer to a fork."""

SERVICE_CHECK_S = 10.0
"""How often an idle warm process looks whether the agent's service still runs."""


def enabled() -> bool:
    """True where the warm runtime may be used (Linux, not turned off)."""
    off = os.environ.get(ENABLE_ENV, "1").strip().lower() in ("0", "no", "off", "false")
    return sys.platform.startswith("linux") and not off and hasattr(socket, "send_fds")


def _code_identity() -> str:
    from edge_agent import __version__
    from edge_agent.validate import package_root

    root = package_root()
    try:
        st = os.stat(root)
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "?"
    return f"{__version__}|{root}|{stamp}"


def socket_path(home: Path) -> Optional[str]:
    """The warm process's socket for this agent home, interpreter and agent code, in a
    folder only this user can enter; None when no such folder can be had."""
    key = "|".join([os.path.realpath(home), sys.executable, _code_identity()])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = os.path.join(tempfile.gettempdir(), f"tfstudio-warm-{os.getuid()}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.lstat(folder)
    except OSError:
        return None
    import stat as stat_mod

    if not stat_mod.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None  # someone else's folder, or open to others: not ours to trust
    path = os.path.join(folder, f"{digest}.sock")
    return path if len(path.encode()) < 100 else None


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


# ---- the agent's side ------------------------------------------------------------


class ForkedChild:
    """A runtime child forked by the warm process, with the Popen calls RuntimeChild uses.

    `poll`/`wait` learn the exit code from the warm process (the child's parent).
    """

    def __init__(
        self,
        pid: int,
        control: socket.socket,
        stdin: IO[bytes],
        stdout: IO[bytes],
        stderr: IO[bytes],
    ) -> None:
        self.pid = pid
        self.stdin: Optional[IO[bytes]] = stdin
        self.stdout: Optional[IO[bytes]] = stdout
        self.stderr: Optional[IO[bytes]] = stderr
        self.returncode: Optional[int] = None
        self._control = control
        self._buffer = b""

    def _read_exit(self, timeout: Optional[float]) -> None:
        if self.returncode is not None:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._control], [], [], left)
            if not ready:
                raise subprocess.TimeoutExpired("runtime child", timeout or 0)
            chunk = self._control.recv(4096)
            if not chunk:  # the warm process went away: the child was killed with it
                self.returncode = -int(signal.SIGKILL)
                return
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            self.returncode = int(json.loads(line)["exit"])
        except (ValueError, KeyError, TypeError):
            self.returncode = -int(signal.SIGKILL)

    def poll(self) -> Optional[int]:
        """The exit code once the child ended, else None (never blocks)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._read_exit(0.0)
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        """Waits for the child to end; returns its code. Raises subprocess.TimeoutExpired."""
        self._read_exit(timeout)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        """Kills the child (and anything it started: it leads its own process group)."""
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Lets go of the connection to the warm process."""
        with contextlib.suppress(OSError):
            self._control.close()


def _connect(path: str) -> Optional[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def _start_server(home: Path, path: str, env: Dict[str, str], cwd: str) -> None:
    """Starts a warm process for `path` (it detaches itself; this returns at once)."""
    subprocess.run(
        [sys.executable, "-m", "edge_agent.warm", "--socket", path, "--home", str(home)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
        check=False,
        timeout=30,
    )


def fork_child(home: Path, env: Dict[str, str], cwd: str) -> Optional[ForkedChild]:
    """Returns a runtime child forked from this home's warm process (started first when
    none runs), or None when that cannot be done (the caller starts a cold child)."""
    path = socket_path(home)
    if path is None:
        return None
    sock = _connect(path)
    if sock is None:
        try:
            _start_server(home, path, env, cwd)
        except (OSError, subprocess.SubprocessError):
            return None
        deadline = time.monotonic() + START_WAIT_S
        while sock is None and time.monotonic() < deadline:
            time.sleep(0.02)
            sock = _connect(path)
        if sock is None:
            return None
    ends: List[int] = []
    try:
        if _peer_uid(sock) != os.getuid():
            raise OSError("the warm runtime's socket belongs to another user")
        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        ends = [stdin_w, stdout_r, stderr_r]
        request = {"op": "fork", "env": env, "agent_pid": os.getpid()}
        socket.send_fds(sock, [json.dumps(request).encode() + b"\n"], [stdin_r, stdout_w, stderr_w])
        for fd in (stdin_r, stdout_w, stderr_w):
            os.close(fd)
        answer = _read_line(sock, ANSWER_WAIT_S)
        pid = int(json.loads(answer)["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        for fd in ends:
            with contextlib.suppress(OSError):
                os.close(fd)
        sock.close()
        return None
    return ForkedChild(
        pid, sock, os.fdopen(stdin_w, "wb"), os.fdopen(stdout_r, "rb"), os.fdopen(stderr_r, "rb")
    )


def _read_line(sock: socket.socket, timeout: float) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        ready, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise OSError("the warm runtime did not answer")
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("the warm runtime closed the connection")
        data += chunk
    return data.split(b"\n", 1)[0]


# ---- the warm process --------------------------------------------------------------


class Server:
    """The warm process: accepts fork requests, reaps children, reports their ends."""

    def __init__(self, listener: socket.socket, home: str, idle_s: float, lock: IO[bytes]) -> None:
        self.listener = listener
        self.lock = lock
        self.home = home
        self.idle_s = idle_s
        self.children: Dict[int, socket.socket] = {}
        self.last_request = time.monotonic()
        self._service_checked = 0.0
        self._service = False

    def wanted(self) -> bool:
        """True while a child runs, the last request is recent, or the agent's service runs
        in this home; never once the home is gone."""
        if self.children:
            return True
        if not os.path.isdir(self.home):
            return False
        now = time.monotonic()
        if now - self.last_request <= self.idle_s:
            return True
        if now - self._service_checked >= SERVICE_CHECK_S:
            from edge_agent.serverfile import server_status

            self._service_checked = now
            self._service = bool(server_status(self.home).get("running"))
        return self._service

    def serve(self) -> None:
        """Serves until `wanted` says no."""
        while self.wanted():
            ready, _, _ = select.select([self.listener], [], [], 0.5 if self.children else 2.0)
            if ready:
                self._accept()
            self._reap()

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.last_request = time.monotonic()
        fds: List[int] = []
        try:
            if _peer_uid(conn) != os.getuid():
                conn.close()
                return
            conn.settimeout(ANSWER_WAIT_S)
            message, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
            while b"\n" not in message:  # an environment may come in more than one read
                more = conn.recv(1 << 16)
                if not more:
                    raise OSError("the request ended early")
                message += more
            conn.settimeout(None)
            request = json.loads(message.split(b"\n", 1)[0])
            if request.get("op") != "fork" or len(fds) != 3:
                raise ValueError("not a fork request")
        except (OSError, ValueError):
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            conn.close()
            return
        pid = os.fork()
        if pid == 0:
            self._child(conn, fds, request)  # never returns
        for fd in fds:
            os.close(fd)
        try:
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        except OSError:
            pass
        self.children[pid] = conn

    def _child(self, conn: socket.socket, fds: List[int], request: Dict[str, Any]) -> None:
        code = 1
        try:
            self.listener.close()
            self.lock.close()  # the warm process's lock is its own, not its children's
            conn.close()
            for other in self.children.values():
                other.close()
            os.setsid()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
            sys.stdin = os.fdopen(0, "r", encoding="utf-8", errors="replace")
            sys.stdout = os.fdopen(1, "w", encoding="utf-8")
            sys.stderr = os.fdopen(2, "w", encoding="utf-8", errors="replace")
            from edge_agent import validate_child

            agent = request.get("agent_pid")
            if isinstance(agent, int):
                validate_child.die_with(agent)
            code = validate_child.serve(self.home)
        except BaseException:  # noqa: BLE001 - a forked child must never return to the loop
            with contextlib.suppress(Exception):
                import traceback

                traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
            conn.close()
            self.last_request = time.monotonic()


def _idle_s() -> float:
    try:
        return max(1.0, float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_S)))
    except ValueError:
        return DEFAULT_IDLE_S


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m edge_agent.warm --socket PATH --home HOME`: detaches, preloads, serves."""
    import argparse

    parser = argparse.ArgumentParser(prog="edge_agent.warm")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--home", required=True)
    args = parser.parse_args(argv)
    if os.fork() != 0:
        os._exit(0)  # the starter returns at once; the warm process is nobody's child
    os.setsid()
    lock = os.fdopen(os.open(args.socket + ".lock", os.O_RDWR | os.O_CREAT, 0o600), "r+b")
    import fcntl

    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os._exit(0)  # another warm process has this socket
    # One thread, so fork() is safe: numpy's BLAS would start a pool of its own.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    from edge_agent.validate_child import preload

    preload()
    import gc

    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()  # the children's garbage collector leaves the shared pages alone
    with contextlib.suppress(FileNotFoundError):
        os.unlink(args.socket)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        listener.bind(args.socket)
    finally:
        os.umask(old_mask)
    listener.listen(64)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        Server(listener, os.path.abspath(args.home), _idle_s(), lock).serve()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(args.socket)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
