"""Runs the conversion worker in a child process and turns its death into one line.

TensorFlow's converter and LiteRT are native code that can segfault or abort on
inputs nobody foresaw. `ConversionWorker` keeps them out of the caller's
process (a CLI, a long-lived TUI): it starts `python -m tfstudio.convert.worker`
(a fresh interpreter, so nothing is forked after TensorFlow is imported),
talks to it over a socket, forwards its stage events, honours the cancel flag
while a mode runs (by killing the child), and maps a child that dies into a
ConversionError naming the stage and the signal. After a crash the next
request starts a new child, which loads the source again.

Interrupted (Ctrl-C, an exception) while the child is busy, the studio does not
wait for it: it kills the child's process group at once. Everything the child
writes (the Keras export, TensorFlow's `__autograph_generated_file*.py`) goes
into the conversion's scratch folder, `$TMPDIR/tfstudio-convert-<studio pid>-*`,
removed when the conversion ends; a child whose studio was killed removes it
itself, and the next conversion sweeps the folders of studios that are gone.

`prestart()` starts one child ahead of time and has it import TensorFlow
(seconds) while the caller does something else, such as training the model it
will convert; the next `ConversionWorker` adopts it instead of starting its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import tfstudio
from tfstudio import errors
from tfstudio.convert.job import ConvertOptions, Job, ModeOutcome, Prepared
from tfstudio.convert.presets import Preset
from tfstudio.errors import CancelledError, ConversionError, TfStudioError
from tfstudio.models.source import SourceInfo
from tfstudio.operations import CancelToken, Stage

POLL_S = 0.1
"""How often a waiting studio looks at the cancel flag."""
EXIT_WAIT_S = 30.0
"""How long an idle worker asked to exit may take before it is killed."""
SCRATCH_PREFIX = "tfstudio-convert-"
"""Scratch folders are `SCRATCH_PREFIX<studio pid>-<random>` in the temp folder."""
STALE_UNOWNED_S = 24 * 3600.0
"""A scratch folder without an owner pid in its name (older studios) is swept once it
has not changed for this long."""
LOG_TAIL_BYTES = 64 * 1024
"""How much of the worker's log is searched for the native error of a crash."""
_NATIVE_MARKERS = ("Check failed", "terminate called", "what():", "LLVM ERROR", "Assertion")
_WHO = {
    Stage.LOAD: "the conversion worker crashed while loading the model",
    Stage.CONVERT: "the converter crashed",
    Stage.VERIFY: "the conversion worker crashed while reading the converted model",
    Stage.EVALUATE: "LiteRT crashed while evaluating the converted model",
}


_SPARE: list[tuple[subprocess.Popen[bytes], Connection, IO[bytes]]] = []
"""At most one prestarted child (process, connection, log) with a `warm` request pending."""
_SPARE_LOCK = threading.Lock()


def prestart() -> None:
    """Starts a conversion child now and has it import TensorFlow; the next conversion
    adopts it (a previous unadopted one is ended). Raises ConversionError."""
    proc, conn, log = _spawn()
    try:
        conn.send(("warm",))
    except OSError:
        pass  # a child that died at once is found dead, and replaced, when adopted
    with _SPARE_LOCK:
        old = _SPARE[:]
        _SPARE[:] = [(proc, conn, log)]
    for spare in old:
        _end(*spare)


def discard_prestarted() -> None:
    """Ends the prestarted child, if no conversion adopted it."""
    with _SPARE_LOCK:
        old = _SPARE[:]
        _SPARE.clear()
    for spare in old:
        _end(*spare)


def _adopt() -> tuple[subprocess.Popen[bytes], Connection, IO[bytes]] | None:
    with _SPARE_LOCK:
        spare = _SPARE.pop() if _SPARE else None
    if spare is not None and spare[0].poll() is not None:
        _end(*spare)
        return None
    return spare


def _end(proc: subprocess.Popen[bytes], conn: Connection, log: IO[bytes]) -> None:
    # A spare holds nothing but a TensorFlow import in progress: no need to ask.
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    conn.close()
    log.close()


def _spawn() -> tuple[subprocess.Popen[bytes], Connection, IO[bytes]]:
    """Starts `python -m tfstudio.convert.worker` on one end of a socket pair."""
    parent_sock, child_sock = socket.socketpair()
    log = tempfile.TemporaryFile(prefix="tfstudio-convert-", suffix=".log")
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The child must import this very tfstudio (a source checkout, a test run).
    root = str(Path(tfstudio.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tfstudio.convert.worker", str(child_sock.fileno())],
            pass_fds=(child_sock.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            # Its own session: a terminal's Ctrl-C reaches the studio, which
            # then ends the child; a kill reaches everything the child started.
            start_new_session=True,
        )
    except OSError as exc:
        parent_sock.close()
        log.close()
        raise ConversionError(f"cannot start the conversion worker: {exc}") from exc
    finally:
        child_sock.close()
    return proc, Connection(parent_sock.detach()), log


class ConversionWorker:
    """One conversion child process for one `convert` call (restarted after a crash).

    Use as a context manager: leaving it ends the child and removes the scratch
    directory the child exported into.
    """

    def __init__(
        self,
        info: SourceInfo,
        rep_data: Path | None,
        eval_data: Path | None,
        options: ConvertOptions,
        *,
        on_stage: Callable[[Stage], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        sweep_stale_scratch()
        self._workdir = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        self.job = Job(info, rep_data, eval_data, options, self._workdir)
        self._on_stage = on_stage
        self._cancel = cancel
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._log: IO[bytes] | None = None
        self._warming = False
        self._busy = False
        self._stage = Stage.LOAD
        self.prepared: Prepared | None = None

    def __enter__(self) -> ConversionWorker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()  # Ctrl-C or a failure: nothing the child does is wanted now
        else:
            self.close()

    @property
    def pid(self) -> int | None:
        """The running child's process id, or None when none runs."""
        return self._proc.pid if self._proc is not None else None

    def prepare(self) -> Prepared:
        """Starts the child; it loads the source and checks the data. Returns its answer.

        Raises the data's or source's own TfStudioError, MissingExtraError,
        ConversionError (child crashed) or CancelledError.
        """
        if self._proc is None:
            self._start()
        if self._on_stage is not None:
            self._on_stage(Stage.LOAD)
        prepared = self._call(("prepare", self.job), Stage.LOAD)
        assert isinstance(prepared, Prepared)
        self.prepared = prepared
        return prepared

    def convert(self, preset: Preset) -> ModeOutcome:
        """Converts, verifies and scores one mode in the child (restarting it if needed).

        Raises ConversionError (converter failure, mismatch, crash) or CancelledError.
        """
        if self._proc is None:
            self.prepare()
        outcome = self._call(("convert", preset), Stage.CONVERT)
        assert isinstance(outcome, ModeOutcome)
        return outcome

    def close(self) -> None:
        """Asks an idle child to exit (killing it if it does not, and at once when it is
        busy with a request), removes the scratch directory."""
        if self._busy:
            self.abort()
            return
        if self._proc is not None and self._conn is not None:
            try:
                self._conn.send(("exit",))
                self._proc.wait(timeout=EXIT_WAIT_S)
            except (OSError, subprocess.TimeoutExpired):
                self._kill()
        self._discard()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def abort(self) -> None:
        """Kills the child's process group now and removes the scratch directory."""
        self._kill()
        self._discard()
        self._busy = False
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _start(self) -> None:
        adopted = _adopt()
        self._proc, self._conn, self._log = adopted or _spawn()
        self._warming = adopted is not None

    def _call(self, request: tuple[Any, ...], stage: Stage) -> object:
        assert self._conn is not None and self._proc is not None
        self._stage = stage
        if self._warming:
            # An adopted child answers its `warm` (TensorFlow imported) first.
            self._warming = False
            try:
                self._receive()
            except ConversionError:
                # It died before doing any of this conversion's work: start afresh.
                self._start()
        try:
            self._conn.send(request)
        except OSError:
            raise self._crashed() from None
        self._busy = True
        answer = self._receive()
        self._busy = False
        return answer

    def _receive(self) -> object:
        assert self._conn is not None and self._proc is not None
        while True:
            if self._cancel is not None and self._cancel.is_set():
                self._kill()
                raise CancelledError("conversion cancelled")
            try:
                ready = self._conn.poll(POLL_S)
                message = self._conn.recv() if ready else None
            except (EOFError, OSError):
                raise self._crashed() from None
            if message is None:
                if self._proc.poll() is not None:
                    raise self._crashed()
                continue
            kind, value = message
            if kind == "stage":
                self._stage = Stage(value)
                if self._on_stage is not None:
                    self._on_stage(self._stage)
            elif kind == "ok":
                return value
            else:
                raise _rebuild(value)

    def _crashed(self) -> ConversionError:
        """The error for a child that died; forgets it, so the next request starts anew."""
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill()
            code = self._proc.returncode
        detail = self._native_detail()
        self._discard()
        who = _WHO[self._stage]
        if code is not None and code < 0:
            how = f"({_signal_name(-code)})"
        else:
            how = f"(it exited with status {code})"
            who = who.replace("crashed", "ended unexpectedly")
        hint = None
        if code == -signal.SIGKILL:
            hint = "killed from outside, often by the kernel when memory runs out"
        return ConversionError(f"{who} {how}" + (f": {detail}" if detail else ""), hint=hint)

    def _native_detail(self) -> str:
        """The native runtime's last words (e.g. 'Check failed: ...'), if the log has any."""
        if self._log is None:
            return ""
        try:
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - LOG_TAIL_BYTES))
            lines = self._log.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        found = [line.strip() for line in lines if any(m in line for m in _NATIVE_MARKERS)]
        return found[-1][:300] if found else ""

    def _kill(self) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except OSError:
            self._proc.kill()
        self._proc.wait()

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._log is not None:
            self._log.close()
        self._proc = self._conn = self._log = None


def sweep_stale_scratch(root: Path | None = None) -> list[Path]:
    """Removes scratch folders of conversions whose studio no longer runs (killed, or a
    second Ctrl-C during cleanup); returns those removed. Folders of live studios stay."""
    import time

    from edge_agent.fsutil import pid_alive

    removed: list[Path] = []
    base = root or Path(tempfile.gettempdir())
    try:
        entries = [p for p in base.iterdir() if p.name.startswith(SCRATCH_PREFIX)]
    except OSError:
        return removed
    for path in entries:
        if not path.is_dir() or path.is_symlink():
            continue
        owner = path.name[len(SCRATCH_PREFIX) :].split("-", 1)
        if len(owner) == 2 and owner[0].isdigit():
            if pid_alive(int(owner[0])):
                continue
        else:
            try:
                if time.time() - path.stat().st_mtime < STALE_UNOWNED_S:
                    continue
            except OSError:
                continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _rebuild(error: tuple[str, str, str | None]) -> TfStudioError:
    """The worker's error as the studio's own exception class."""
    name, message, hint = error
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, TfStudioError)):
        cls = ConversionError
    return cls(message, hint=hint)
