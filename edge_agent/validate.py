"""Validation of a model on this device's runtime, and every other runtime job, in a child process.

The child (`edge_agent.validate_child`) is the only agent process that imports
numpy and the runtime. A runtime that segfaults, aborts or hangs only takes
the child down: `RuntimeChild` maps that to `validation_crashed` /
`validation_timeout` (or `runtime_crashed` / `timeout` for other jobs), and
`validate_model` maps the runtime's own refusal to `runtime_too_old` (naming
op, version and runtime, from the model's flatbuffer facts and the runtime's
text) or `invoke_failed`.

A one-shot `install` starts a child for its validation alone; an agent
session keeps one child (`RuntimeChild`) for its life, so the runtime is
imported once per deploy for both validation and the health-gate bench. The
session's child is forked from the agent home's warm runtime (`edge_agent.warm`,
handed in as `fork`), which imported numpy and the runtime once for every
session; where there is none to be had, it starts cold.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Deque, Dict, Optional

import edge_agent
from edge_agent.errors import AgentError, one_line
from edge_agent.tflite_schema import ModelFacts, parse_version

DEFAULT_TIMEOUT_S = 60.0
"""How long a load + allocate + one invoke may take before the model is refused."""

_OP_TEXT = re.compile(r"builtin opcode '([A-Z0-9_]+)' version '(\d+)'")
"""The runtime's text for an op (version) its kernels lack."""

STDERR_TAIL = 4096
"""Bytes of the child's stderr kept for a crash message."""


def package_root() -> str:
    """Returns the sys.path entry holding `edge_agent` (a directory, or the .pyz itself)."""
    return str(Path(edge_agent.__file__).resolve().parent.parent)


def _child_dir() -> str:
    """The directory the child runs in: where `edge_agent` itself comes from.

    `python -m` puts the working directory first on sys.path, so a child
    started in a directory that happens to hold another `edge_agent` (a
    checkout, an old copy) would run that code instead of this agent's.
    """
    root = package_root()
    return root if os.path.isdir(root) else os.path.dirname(root)


class ChildGone(Exception):
    """The child died (returncode) or hung (returncode None) before it answered."""

    def __init__(self, returncode: Optional[int], stderr: str) -> None:
        super().__init__(f"runtime child ended ({returncode})")
        self.returncode = returncode
        self.stderr = stderr


class RuntimeChild:
    """One runtime child process: validates models and runs runtime jobs, one at a time.

    Started lazily by the first job, with that job's model path on its command
    line when it is a validation. A job that crashes or hangs the child kills
    it; the next job starts a fresh one.
    """

    def __init__(
        self,
        home: Path,
        *,
        serve: bool = True,
        fork: Optional[Callable[..., Any]] = None,
        python: Optional[str] = None,
    ) -> None:
        self.home = home
        self.serve = serve
        self.fork = fork
        """`warm.fork_child` for a session's child (forked from the home's warm runtime
        when there is one); None for a one-off, whose working directory is no agent home."""
        self.python = python or sys.executable
        """The interpreter of the child: this one, or another environment's (the studio
        proves models on other runtime releases, each in its own venv)."""
        self._proc: Optional[subprocess.Popen] = None
        self._buffer = bytearray()
        self._stderr: Deque[bytes] = collections.deque()
        self._stderr_thread: Optional[threading.Thread] = None

    # -- process ---------------------------------------------------------------

    def _start(self, first_model: Optional[Path]) -> bool:
        """Starts the child; returns True when `first_model` is validated on its command
        line (a cold child), False when it waits for jobs (a forked warm one)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root(), env.get("PYTHONPATH", "")) if p
        )
        env["TFSTUDIO_AGENT_PARENT"] = str(os.getpid())  # the child dies with this agent
        self._buffer.clear()
        self._stderr.clear()
        # The warm runtime is this interpreter's: a child of another environment starts cold.
        if self.serve and self.fork is not None and self.python == sys.executable:
            forked = self.fork(self.home, env, _child_dir())
            if forked is not None:
                self._proc = forked
                self._watch_stderr()
                return False
        cmd = [self.python, "-m", "edge_agent.validate_child"]
        if first_model is not None:
            cmd.append(os.path.abspath(first_model))
        if self.serve:
            cmd += ["--serve", "--home", os.path.abspath(self.home)]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if self.serve else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=_child_dir(),
            start_new_session=True,  # so a timeout can kill anything the runtime started
        )
        self._watch_stderr()
        return first_model is not None

    def _watch_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        self._stderr_thread = threading.Thread(
            target=self._drain, args=(self._proc.stderr,), name="child-stderr", daemon=True
        )
        self._stderr_thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        # A runtime that logs a lot must never block on a full stderr pipe.
        kept = 0
        for chunk in iter(lambda: stream.read1(1 << 14), b""):  # type: ignore[attr-defined]
            self._stderr.append(chunk)
            kept += len(chunk)
            while kept > STDERR_TAIL and len(self._stderr) > 1:
                kept -= len(self._stderr.popleft())

    def stderr_text(self) -> str:
        """Returns the tail of the child's stderr (after it ended: all that was kept)."""
        if self._stderr_thread is not None and self._proc is not None:
            if self._proc.poll() is not None:
                self._stderr_thread.join(timeout=2)
        return b"".join(self._stderr).decode("utf-8", "replace")

    @property
    def running(self) -> bool:
        """True while a child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            with contextlib.suppress(OSError):
                proc.kill()
        proc.wait()

    def _reap(self) -> None:
        """Lets go of an ended child's pipes."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=2)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        if hasattr(proc, "close"):  # a forked warm child: its line to the warm process
            proc.close()

    def close(self) -> None:
        """Ends the child: stdin closed (it exits), killed if it does not (never raises)."""
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._kill()
        self._reap()

    # -- one answer ------------------------------------------------------------

    def _read_answer(self, timeout_s: float) -> Dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                try:
                    answer = json.loads(line.decode("utf-8", "replace"))
                except ValueError:
                    continue  # a stray line on stdout (a noisy native library)
                if isinstance(answer, dict):
                    return answer
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._kill()
                self._reap()
                raise ChildGone(None, self.stderr_text())
            ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                code = proc.wait()
                self._reap()
                raise ChildGone(code, self.stderr_text())
            self._buffer += chunk

    def warm(self) -> None:
        """Starts the child now, so that it imports the runtime (or is forked warm) while
        the caller does other work (an upload), instead of after it."""
        if not self.running:
            self._start(None)

    def job(
        self, job: Dict[str, Any], timeout_s: float, model: Optional[Path] = None
    ) -> Dict[str, Any]:
        """Sends `job` (starting the child, with `model` on its command line, if need be)
        and returns the child's answer. Raises ChildGone."""
        if not self.running:
            on_command_line = self._start(model if job.get("op") == "validate" else None)
            if on_command_line:
                answer = self._read_answer(timeout_s)  # the command line's validation
                if not self.serve:
                    self.close()
                return answer
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write((json.dumps(job) + "\n").encode())
            self._proc.stdin.flush()
        except OSError:
            pass  # it died: the read below reports how
        return self._read_answer(timeout_s)

    def call(self, op: str, kwargs: Dict[str, Any], timeout_s: float) -> Dict[str, Any]:
        """Runs runtime job `op` with `kwargs` in the child; returns its result.

        Raises AgentError: the job's own refusal, runtime_crashed, timeout.
        """
        try:
            answer = self.job({"op": op, "kwargs": kwargs}, timeout_s)
        except ChildGone as gone:
            if gone.returncode is None:
                raise AgentError(
                    f"{op} did not finish within {timeout_s:g} s; the runtime was stopped",
                    "timeout",
                    hint="the runtime hangs on this model, or the device is too slow",
                ) from None
            raise _crash_error(gone.returncode, gone.stderr, op, "runtime_crashed") from None
        if answer.get("ok"):
            result = answer.get("result")
            return result if isinstance(result, dict) else {}
        error = answer.get("error") or {}
        raise AgentError(
            str(error.get("error") or f"{op} failed"),
            str(error.get("code") or "internal"),
            hint=error.get("hint"),
        )


def validate_model(
    path: Path, facts: ModelFacts, timeout_s: float, child: Optional[RuntimeChild] = None
) -> Dict[str, Any]:
    """Validates the model at `path` in a runtime child (`child`, or a fresh one-shot child).

    Returns the child's result dict ({"ok": true, "runtime", ...}). The child
    loads the file by path and never hashes it: the caller checks afterwards
    that the file was not changed meanwhile. Raises AgentError: no_runtime,
    runtime_too_old, needs_tf_ops, invoke_failed, validation_crashed, validation_timeout.
    """
    runner = child or RuntimeChild(Path("."), serve=False)
    try:
        job = {"op": "validate", "path": os.path.abspath(path)}
        result = runner.job(job, timeout_s, model=path)
    except ChildGone as gone:
        if gone.returncode is None:
            raise AgentError(
                f"validation did not finish within {timeout_s:g} s (load + one invoke); "
                "the model was refused",
                "validation_timeout",
                hint="the runtime hangs on this model, or the device is too slow: "
                "retry with a larger --timeout",
            ) from None
        raise _crash_error(gone.returncode, gone.stderr, "validating the model") from None
    finally:
        if child is None:
            runner.close()
    if not result.get("ok"):
        raise _refusal(result, facts)
    return result


def _crash_error(
    returncode: int, stderr: str, doing: str, code: str = "validation_crashed"
) -> AgentError:
    if returncode < 0:
        try:
            how = f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"signal {-returncode}"
    else:
        how = f"exit status {returncode}"
    tail = one_line(stderr)[-300:]
    refused = "the model is refused; " if code == "validation_crashed" else ""
    return AgentError(
        f"the runtime crashed while {doing} ({how})" + (f": {tail}" if tail else ""),
        code,
        hint=f"{refused}the agent itself is unaffected. Try another runtime version or "
        "re-convert the model",
    )


def _refusal(result: Dict[str, Any], facts: ModelFacts) -> AgentError:
    stage = result.get("stage")
    text = one_line(str(result.get("error", "")))
    if stage == "runtime":
        return AgentError(
            f"no LiteRT runtime can be imported on this device ({text})",
            "no_runtime",
            hint="install one: python3 -m pip install ai-edge-litert",
        )
    rt = result.get("runtime") or {}
    rt_name = f"{rt.get('name', '?')} {rt.get('version', '?')}"
    if stage == "load":
        if facts.flex_ops and ("Flex" in text or "Select TensorFlow op" in text):
            return AgentError(
                f"the model uses TensorFlow (Flex) ops {', '.join(facts.flex_ops)} and "
                f"{rt_name} has no Flex delegate; the model was refused",
                "needs_tf_ops",
                hint="convert with builtin ops only (without --select-tf-ops; for LSTM/GRU "
                "try --fixed-batch 1)",
            )
        too_old = _too_old(text, facts, rt.get("compat_version"))
        if too_old is not None:
            return _runtime_too_old(too_old, text, rt_name, facts)
        return AgentError(
            f"{rt_name} could not load the model: {text}{_measured_note(facts, rt)}",
            "invoke_failed",
            hint="the file may be corrupt or need custom ops this runtime lacks",
        )
    return AgentError(
        f"the model loaded but its test invoke failed on {rt_name}: {text}"
        + _measured_note(facts, rt),
        "invoke_failed",
        hint="convert the model in another mode, or upgrade the runtime",
    )


def _measured_note(facts: ModelFacts, rt: Dict[str, Any]) -> str:
    """What the measured table knows of this model on this runtime release, if anything:
    ' (measured: RSQRT(int16)->(int16): load: Type INT16 is unsupported by op Rsqrt)'."""
    from edge_agent import measured

    release = measured.release_for(str(rt.get("name") or ""), str(rt.get("version") or ""))
    if release is None:
        return ""
    found = measured.check_release(
        release[0], [(op.name, op.version) for op in facts.ops], facts.kernels
    )
    return f" (measured on {release[0]}: {'; '.join(found.reasons())})" if not found.ok else ""


def _too_old(text: str, facts: ModelFacts, compat: Optional[str]) -> Optional[str]:
    """Returns "OP version N" when the load failure is a too-old runtime, else None."""
    match = _OP_TEXT.search(text)
    if match:
        return f"{match.group(1)} version {match.group(2)}"
    # The need is computed from the model's ops (see edge_agent.min_runtime).
    needs = parse_version(facts.min_runtime_version)
    if compat and needs > parse_version(compat):
        return (facts.min_runtime_set_by or "a newer op").replace(" v", " version ")
    return None


def _runtime_too_old(op: str, text: str, rt_name: str, facts: ModelFacts) -> AgentError:
    needs = facts.min_runtime_version or "a newer runtime"
    return AgentError(
        f"this device's runtime is too old for the model: it needs {op}, which {rt_name} "
        f"does not have (runtime says: {text})",
        "runtime_too_old",
        hint=f"the model needs a runtime >= {needs} (computed from its ops); upgrade the "
        "device to ai-edge-litert (python3 -m pip install ai-edge-litert), or convert the "
        "model with an older converter",
    )
