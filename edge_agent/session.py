"""The agent session: one agent process for a whole deploy, speaking JSON lines on stdin/stdout.

`tfstudio-agent --home H session` is what the studio runs once per device and
deploy, on one SSH channel, instead of one agent process per step. It starts
without numpy or a runtime (those live in its runtime child, started by the
first validation or bench and kept for the session's life).

Protocol. The session first prints its hello:
    {"session": 1, "agent_version": "0.6.0", "ops": [...], "pid": N}
then reads requests, one JSON object per line, and answers each in order:
    {"id": 7, "op": "install", "args": {...}}
    {"id": 7, "ok": true, "result": {...}}   or   {"id": 7, "ok": false, "error": {...}}
(`error` is the agent's error object: {"error", "code", "hint"?}). An
`upload` request is followed on stdin by exactly `args.length` raw bytes.

Operations (`OPS`, name → handler; adding one is one line):
- info, list, status, outcome: read-only, as the one-shot commands;
- lock: takes the device lock for the rest of the session ({"id", "owner",
  "wait", "for", "need"}, like the `lock` command); writes in the session
  then run inside it;
- partial: what an upload of a sha256 already holds: its size and the
  sha256 of that prefix (for a resume; the prefix is read once, and its
  hash state kept for the upload that follows);
- upload: writes the bytes that follow into `inbox/<sha256>.partial`,
  hashing them as they arrive (`inbox.receive`); needs the lock;
- install, activate, rollback, prune: the store's writes, each recorded
  under its `op_id` when given (see `ops`);
- bench (one run, or a sweep with `threads` "1,2,4"; `input_kind` a file of
  real inputs, `profile_ops`) and eval (`data_path`, `model_ref`,
  `data_sha`, `with_top1`...): in the runtime child, with the keyword
  arguments of `bench.bench_or_sweep` and `evaluate.run_eval` (any job of
  `validate_child.JOBS` can be exposed the same way, with `runtime_op`).

- heartbeat ({"every_s": S}): from then on, while a request runs, the session
  writes `{"id": ID, "alive": true}` every S seconds, so the studio can tell an
  agent that works (or waits for the lock) from one that froze; a studio that
  never asks gets no such lines.

The session ends when stdin closes, letting go of the lock and its runtime
child. SIGTERM or SIGHUP (sent by a session of the same deploy taking the lock
back after the link dropped) ends it at once when it is idle, or right after
the write it is running has finished and been recorded.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Dict, Optional, TextIO

from edge_agent import __version__, inbox
from edge_agent.errors import AgentError
from edge_agent.store import SHA_RE, Store

if TYPE_CHECKING:
    from edge_agent.validate import RuntimeChild

PROTOCOL = 1
"""The session protocol's version, in the hello (a studio checks it before it talks)."""

PIPE_SIZE = 1 << 20
"""Asked of the kernel for stdin's pipe, so an upload arrives in fewer, larger reads."""


def _arg(
    args: Dict[str, Any], key: str, kind: type, default: Any = None, required: bool = False
) -> Any:
    """Returns `args[key]` checked to be a `kind` (int also accepted for float)."""
    if key not in args or args[key] is None:
        if required:
            raise AgentError(f"missing argument {key!r}", "usage")
        return default
    value = args[key]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise AgentError(f"argument {key!r} must be a {kind.__name__}", "usage")
    return value


def _sha(args: Dict[str, Any], key: str = "sha256") -> str:
    sha = str(_arg(args, key, str, required=True)).lower()
    if not SHA_RE.match(sha):
        raise AgentError(f"{key} {sha!r} is not 64 hex digits", "usage")
    return sha


class _Limited:
    """The next `remaining` bytes of a stream (an upload's body)."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self.stream = stream
        self.remaining = length

    def readinto(self, view: memoryview) -> int:
        if self.remaining <= 0:
            return 0
        n = self.stream.readinto(view[: min(len(view), self.remaining)])  # type: ignore[attr-defined]
        if not n:
            raise EOFError("the session's input ended inside an upload")
        self.remaining -= n
        return int(n)

    def drain(self) -> None:
        """Reads and drops what is left, so the next request starts where it should."""
        buffer = memoryview(bytearray(1 << 16))
        while self.remaining > 0:
            self.readinto(buffer)


class Session:
    """One session's state: the store, the device lock it holds, its runtime child."""

    def __init__(self, store: Store, stdin: BinaryIO) -> None:
        self.store = store
        self.stdin = stdin
        self._runtime: Any = None  # the runtime child, started by the first job that needs it
        self.holding: Any = None  # devicelock.Holding while the session holds the lock
        self.lock_id: Optional[str] = None
        self.busy = False  # a write is running: a SIGTERM waits for it
        self.leaving = False
        self.upload_body: Optional[_Limited] = None
        self.prefix_state: Optional[Dict[str, Any]] = None  # the hash state `partial` computed
        self.pulse: Optional[Pulse] = None  # the heartbeat, once the studio asked for it

    @property
    def runtime(self) -> RuntimeChild:
        """The session's runtime child (its process starts with its first job)."""
        if self._runtime is None:
            from edge_agent import warm
            from edge_agent.validate import RuntimeChild

            fork = warm.fork_child if warm.enabled() else None
            self._runtime = RuntimeChild(self.store.home, fork=fork)
        return self._runtime

    def close(self) -> None:
        """Ends the runtime child and lets go of the lock."""
        if self._runtime is not None:
            self._runtime.close()
        if self.holding is not None:
            self.holding.release()
            self.holding = None

    def on_signal(self, signum: int, frame: Any) -> None:
        """SIGTERM/SIGHUP: leave now when idle, else after the running write."""
        if not self.busy:
            if self._runtime is not None:
                self._runtime.close()
            os._exit(0)  # the kernel drops the flock with the process
        self.leaving = True

    def writing(self, op: str, op_id: Optional[str], write: Callable[[], Dict[str, Any]]) -> Any:
        """Runs a store write inside the session's lock, recorded under `op_id`."""
        from edge_agent.commands import recorded

        self.busy = True
        try:
            return recorded(self.store, op_id, op, write)
        finally:
            self.busy = False


# ---- handlers: fn(session, args) -> result ---------------------------------------


def op_info(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    from edge_agent.device_info import home_info

    return home_info(str(s.store.home))


def op_list(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    return s.store.listing()


def op_status(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    from edge_agent.commands import status_of

    return status_of(s.store)


def op_outcome(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    from edge_agent.commands import outcome_of

    return outcome_of(
        s.store, _arg(args, "op_id", str, required=True), _arg(args, "wait", float, 0.0)
    )


def op_heartbeat(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    every = _arg(args, "every_s", float, required=True)
    if not 0.1 <= every <= 60:
        raise AgentError("heartbeat: every_s must lie in [0.1, 60]", "usage")
    if s.pulse is not None:
        s.pulse.every_s = every
    return {"every_s": every}


def op_lock(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    from edge_agent import devicelock, ops, space

    lock_id = ops.check_id(_arg(args, "id", str, required=True))
    if s.holding is not None:
        if lock_id != s.lock_id:
            raise AgentError(f"this session already holds the device lock as {s.lock_id}", "usage")
        return {"locked": True, **s.holding.record, "swept": None}
    for_sha = args.get("for")
    if for_sha is not None:
        for_sha = _sha(args, "for")
    s.store.ensure()
    devicelock.end_own_stale_holder(s.store.home, lock_id)
    s.holding = devicelock.acquire(
        s.store.home,
        _arg(args, "wait", float, 60.0),
        owner=_arg(args, "owner", str, ""),
        lock_id=lock_id,
    )
    s.lock_id = lock_id
    swept = space.sweep(s.store.home, keep_sha=for_sha, need_bytes=_arg(args, "need", int, 0))
    return {"locked": True, **s.holding.record, "swept": swept}


def _need_lock(s: Session, what: str) -> None:
    if s.holding is None:
        raise AgentError(f"{what} needs the device lock: send `lock` first", "locked")


def op_partial(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    _need_lock(s, "partial")
    sha = _sha(args)
    upload = s.store.inbox / f"{sha}.partial"
    try:
        st = upload.stat()
    except FileNotFoundError:
        return {"size": 0, "prefix_sha256": None, "complete": False}
    recorded = inbox.recorded_digest(upload, st)
    if recorded is not None:  # complete, and its digest known: nothing to read
        return {"size": st.st_size, "prefix_sha256": recorded, "complete": recorded == sha}
    digest = inbox.prefix_digest(upload, st.st_size)
    s.prefix_state = {"sha256": sha, "identity": inbox.identity(st), "digest": digest.copy()}
    return {"size": st.st_size, "prefix_sha256": digest.hexdigest(), "complete": False}


def op_upload(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    # The body is consumed whatever happens (`dispatch` drains it), so refusals are safe.
    _need_lock(s, "upload")
    sha = _sha(args)
    offset = _arg(args, "offset", int, 0)
    total = _arg(args, "total", int, required=True)
    body = s.upload_body
    assert body is not None
    if not 0 <= offset or offset + body.remaining > total:
        raise AgentError(
            f"upload: offset {offset} + length {body.remaining} is over the total {total}", "usage"
        )
    upload = s.store.inbox / f"{sha}.partial"
    if body.remaining >= WARM_MIN_BYTES:
        s.runtime.warm()  # it imports the runtime while the bytes arrive, not after
    digest = _prefix_digest(s, sha, upload, offset)
    done = inbox.receive(
        body, upload, offset=offset, length=body.remaining, total=total, digest=digest
    )
    if done["sha256"] is not None and done["sha256"] != sha:
        inbox.discard(upload)
        raise AgentError(
            f"the upload arrived corrupted: it hashes to {done['sha256']}, not {sha}",
            "sha256_mismatch",
            hint="push it again",
        )
    return done


def _prefix_digest(s: Session, sha: str, upload: Any, offset: int) -> Any:
    """Returns the hash state of the upload's first `offset` bytes (kept by `partial`, or read)."""
    import hashlib

    if offset == 0:
        return hashlib.sha256()
    kept, s.prefix_state = s.prefix_state, None
    try:
        st = upload.stat()
    except FileNotFoundError:
        raise AgentError(f"upload: nothing to resume at {offset} bytes", "usage") from None
    if st.st_size < offset:
        raise AgentError(f"upload: the partial holds {st.st_size} bytes, not {offset}", "usage")
    if kept and kept["sha256"] == sha and kept["identity"] == inbox.identity(st):
        if st.st_size == offset:
            return kept["digest"]
    return inbox.prefix_digest(upload, offset)


def op_install(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    from pathlib import Path

    from edge_agent.install import install_model

    path = Path(_arg(args, "path", str, required=True))
    expected = args.get("sha256")
    if expected is not None:
        expected = _sha(args)
    keep = _arg(args, "keep", int)
    return s.writing(
        "install",
        _arg(args, "op_id", str),
        lambda: install_model(
            s.store,
            path,
            name=_arg(args, "name", str),
            expected_sha=expected,
            activate=_arg(args, "activate", bool, True),
            keep=keep,
            timeout_s=_arg(args, "timeout", float, 60.0),
            lock_id=s.lock_id,
            runtime=s.runtime,
        ),
    )


def op_activate(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    ref = _arg(args, "sha", str, required=True)
    return s.writing("activate", _arg(args, "op_id", str), lambda: s.store.activate(ref, s.lock_id))


def op_rollback(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    return s.writing("rollback", _arg(args, "op_id", str), lambda: s.store.rollback(s.lock_id))


def op_prune(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
    keep = _arg(args, "keep", int, required=True)
    drop = bool(_arg(args, "drop_rollback", bool))
    return s.writing(
        "prune", _arg(args, "op_id", str), lambda: s.store.prune(keep, s.lock_id, drop)
    )


WARM_MIN_BYTES = 8 << 20
"""An upload at least this big starts the runtime child as it begins: its import (0.15 s
here, seconds on a small board) then overlaps the transfer instead of following it."""

RUNTIME_TIMEOUT_S = 600.0
"""Default limit of a job in the runtime child (a request may give its own `timeout`)."""


PATH_ARGS = ("data_path", "input_kind", "model_ref", "outputs_to")
"""Job arguments that may name a file: made absolute in the session (see `_absolute`)."""

NOT_PATHS = frozenset({"random", "zeros"})
"""`input_kind` values that are not files (bench's generated inputs)."""


def _absolute(key: str, value: Any) -> Any:
    """Returns a path argument as the one-shot command would read it, absolute.

    The runtime child runs in the agent's own directory, not in the session's
    (see `validate._child_dir`), so a relative path, resolved there, would
    name another file. `model_ref` may be a stored sha (prefix): it is a path
    only where such a file exists, as `bench.resolve_model` decides.
    """
    if not isinstance(value, str) or not value or os.path.isabs(value) or value in NOT_PATHS:
        return value
    if key == "model_ref" and not os.path.isfile(value):
        return value
    return os.path.abspath(value)


def runtime_op(job: str) -> Callable[[Session, Dict[str, Any]], Dict[str, Any]]:
    """Returns the handler that runs `job` of `validate_child.JOBS` in the session's runtime
    child, its args as keyword arguments (all but `timeout`, the job's limit in seconds)."""

    def handler(s: Session, args: Dict[str, Any]) -> Dict[str, Any]:
        timeout = _arg(args, "timeout", float, RUNTIME_TIMEOUT_S)
        kwargs = {
            k: _absolute(k, v) if k in PATH_ARGS else v for k, v in args.items() if k != "timeout"
        }
        return s.runtime.call(job, kwargs, timeout)

    return handler


OPS: Dict[str, Callable[[Session, Dict[str, Any]], Dict[str, Any]]] = {
    "info": op_info,
    "list": op_list,
    "status": op_status,
    "outcome": op_outcome,
    "lock": op_lock,
    "partial": op_partial,
    "upload": op_upload,
    "install": op_install,
    "activate": op_activate,
    "rollback": op_rollback,
    "prune": op_prune,
    "bench": runtime_op("bench"),
    "eval": runtime_op("eval"),
    "heartbeat": op_heartbeat,
}
"""Every operation of the session: name → handler(session, args) → result."""


# ---- the loop ----------------------------------------------------------------------


def dispatch(s: Session, request: Any) -> Dict[str, Any]:
    """Runs one request and returns its answer. Raises EOFError when stdin ends inside an
    upload's body (the session then ends)."""
    if not isinstance(request, dict):
        request = {}
    rid = request.get("id")
    op = str(request.get("op"))
    args = request.get("args")
    args = {} if args is None else args
    if op == "upload":
        length = args.get("length") if isinstance(args, dict) else None
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            s.leaving = True  # the body's size is unknown: the stream cannot be followed
            error = AgentError("upload: `length` must be the byte count that follows", "usage")
            return {"id": rid, "ok": False, "error": error.to_json()}
        s.upload_body = _Limited(s.stdin, length)
    try:
        handler = OPS.get(op)
        if handler is None:
            raise AgentError(f"unknown operation {op!r}; this agent has: {', '.join(OPS)}", "usage")
        if not isinstance(args, dict):
            raise AgentError("`args` must be an object", "usage")
        return {"id": rid, "ok": True, "result": handler(s, args)}
    except AgentError as exc:
        return {"id": rid, "ok": False, "error": exc.to_json()}
    except EOFError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug must still be one answer
        error = AgentError(f"internal error: {type(exc).__name__}: {exc}", "internal")
        return {"id": rid, "ok": False, "error": error.to_json()}
    finally:
        body, s.upload_body = s.upload_body, None
        if body is not None:
            body.drain()  # whatever the handler did not take, so the next line is a request


def _widen_pipe(fd: int) -> None:
    import fcntl

    with_size = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux; the constant is absent on 3.9
    try:
        fcntl.fcntl(fd, with_size, PIPE_SIZE)
    except OSError:
        pass  # not a pipe, or over the system's limit: smaller reads work too


class Pulse:
    """The session's output, one line at a time, and its heartbeat: while a request runs,
    `{"id": ID, "alive": true}` every `every_s` seconds (once the studio asked)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.every_s: Optional[float] = None
        self.alive = True  # the reader is there
        self._lock = threading.Lock()
        self._running: Any = None  # the id of the request being run
        self._wake = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def send(self, line: Dict[str, Any]) -> None:
        """Writes one line (answers and heartbeats never interleave)."""
        with self._lock:
            if not self.alive:
                return
            try:
                self.out.write(json.dumps(line, sort_keys=True) + "\n")
                self.out.flush()
            except (BrokenPipeError, OSError):
                self.alive = False  # the link dropped: the session goes on to its end

    def running(self, rid: Any) -> None:
        """Notes the request now running (None: idle)."""
        self._running = rid
        if rid is not None and self.every_s is not None and self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while True:
            every = self.every_s or 1.0
            self._wake.wait(every)
            rid = self._running
            if rid is not None and self.alive:
                self.send({"id": rid, "alive": True})


def run_session(
    store: Store, stdin: Optional[BinaryIO] = None, stdout: Optional[TextIO] = None
) -> None:
    """Serves requests until stdin closes (or a SIGTERM ends it); see the module docstring."""
    stdin = stdin or sys.stdin.buffer
    out = stdout or sys.stdout
    _widen_pipe(stdin.fileno())
    session = Session(store, stdin)
    pulse = session.pulse = Pulse(out)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, session.on_signal)
    pulse.send(
        {"session": PROTOCOL, "agent_version": __version__, "ops": sorted(OPS), "pid": os.getpid()}
    )
    try:
        while not session.leaving:
            line = stdin.readline()
            if not line:
                break
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except ValueError:
                error = AgentError("a request is one JSON object per line", "usage")
                pulse.send({"id": None, "ok": False, "error": error.to_json()})
                continue
            pulse.running(request.get("id") if isinstance(request, dict) else None)
            try:
                answer = dispatch(session, request)
            except EOFError:
                break  # the studio went away in the middle of an upload: it resumes later
            finally:
                pulse.running(None)
            if answer.get("ok") and request.get("op") == "heartbeat":
                pulse.every_s = float(answer["result"]["every_s"])
            pulse.send(answer)
    finally:
        session.close()
