"""The runtime child: the only agent process that imports numpy and a LiteRT runtime.

Run as `python -m edge_agent.validate_child [MODEL_PATH] [--serve --home HOME]`, with
absolute paths, in the directory `edge_agent` comes from (see `validate.RuntimeChild`).

- With MODEL_PATH it validates that model first: the runtime loads it from
  the path (its own load, which memory-maps the file), allocates, and invokes
  once on generated input. It never reads or hashes the file itself: the
  parent hashed it once, and checks after this child is done that the file
  still has the identity it had when hashed (see `edge_agent.install`).
  It prints one JSON object: {"ok": true, "runtime", "load_ms", "invoke_ms",
  "outputs"} or {"ok": false, "stage": "runtime"|"load"|"invoke", "error"}.
- With --serve it then reads jobs (`serve`), one JSON line each, from stdin and answers
  each with one JSON line, until stdin closes: {"op": "validate", "path"}
  answers as above; any other op of `JOBS` answers {"ok": true, "result"} or
  {"ok": false, "error": {...}} (the agent's error object). An agent session
  keeps one such child for its life, so a deploy imports the runtime once for
  its validation and its health-gate bench.

A segfault or a hang here only kills this process; the parent maps it. The
child dies with its parent (the agent): a killed install leaves no
validation running on, holding the model's memory. A child forked by the warm
runtime (`edge_agent.warm`) runs the same `serve` loop, and dies with the
agent that asked for it (`die_with`).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

PARENT_ENV = "TFSTUDIO_AGENT_PARENT"
"""The pid of the agent that started this child (set by `validate.RuntimeChild`)."""

FAULT_ENV = "TFSTUDIO_AGENT_FAULT"
"""Test hook: `validate-crash` (SIGSEGV itself) or `validate-hang` (sleep) after the load,
or `validate-slow` (sleep 3 s before the load), so tests can drive the parent's isolation
of a runtime that crashes or hangs, and change the file while it is being validated."""


def validate(model_path: str, value_range: Optional[List[float]] = None) -> Dict[str, Any]:
    """Returns the validation result object described in the module docstring.

    The invoke runs the model's default signature (`serving_default`, else its
    first): the one a request without `signature_name` gets, and the one the
    studio converted and scored, whichever subgraph holds it. Inputs are random
    (seeded), float ones uniform in `value_range` (default [-1, 1]).
    """
    fault = os.environ.get(FAULT_ENV, "")
    if fault == "validate-slow":
        time.sleep(3)
    try:
        import numpy as np

        from edge_agent import runtime
        from edge_agent.signatures import default_key, read_signatures

        info = runtime.detect_runtime()
    except Exception as exc:  # noqa: BLE001 - any import failure means "no runtime"
        return {"ok": False, "stage": "runtime", "error": f"{type(exc).__name__}: {exc}"}
    rt = {"name": info.name, "version": info.version, "compat_version": info.compat_version}
    t0 = time.perf_counter()
    try:
        interpreter = runtime.make_interpreter(model_path=model_path)
    except Exception as exc:  # noqa: BLE001 - the runtime's own text is the message
        return {"ok": False, "stage": "load", "error": str(exc), "runtime": rt}
    load_ms = (time.perf_counter() - t0) * 1e3
    if fault == "validate-crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault == "validate-hang":
        time.sleep(3600)
    rng = np.random.default_rng(0)
    low, high = (value_range or [-1.0, 1.0])[:2]
    timed: List[float] = []
    try:
        signatures = read_signatures(interpreter)
        key = default_key(signatures)
        signature = signatures[key]
        inputs = {
            name: runtime.generated_input(detail, "random", rng, low=low, high=high)
            for name, detail in signature.inputs.items()
        }
        outputs = signature.run(interpreter, inputs, timed.append)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "stage": "invoke", "error": str(exc), "runtime": rt}
    finally:
        del interpreter  # the model's memory goes before the next job, not with this child
        gc.collect()
    return {
        "ok": True,
        "runtime": rt,
        "signature": key,
        "load_ms": round(load_ms, 3),
        "invoke_ms": round(timed[0] * 1e3 if timed else 0.0, 3),
        "outputs": [list(np.shape(o)) for o in outputs.values()],
    }


def _bench(home: str, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    from pathlib import Path

    from edge_agent.bench import bench_or_sweep
    from edge_agent.store import Store

    return bench_or_sweep(Store(Path(home)), **kwargs)


def _eval(home: str, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    from pathlib import Path

    from edge_agent.evaluate import run_eval

    return run_eval(Path(home), **kwargs)


def _flex_probe(home: str, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    try:
        from edge_agent.flex_probe import has_flex_delegate

        return {"flex_delegate": has_flex_delegate()}
    except Exception as exc:  # noqa: BLE001 - no numpy or no runtime: no Flex ops either
        return {"flex_delegate": False, "error": f"{type(exc).__name__}: {exc}"}


JOBS: Dict[str, Callable[[str, Dict[str, Any]], Dict[str, Any]]] = {
    "bench": _bench,
    "eval": _eval,
    "flex_probe": _flex_probe,
}
"""Jobs a serving child runs besides `validate`: op → fn(agent home, kwargs) → result.
Whatever needs the runtime goes here (one line each), so it runs isolated from the agent."""


def run_job(home: str, job: Dict[str, Any]) -> Dict[str, Any]:
    """Runs one job of the serving loop and returns its answer object (never raises)."""
    from edge_agent.errors import AgentError

    op = job.get("op")
    if op == "validate":
        value_range = job.get("range")
        return validate(
            str(job.get("path")), value_range if isinstance(value_range, list) else None
        )
    handler = JOBS.get(str(op))
    if handler is None:
        error = AgentError(f"the runtime child has no job {op!r}", "internal")
        return {"ok": False, "error": error.to_json()}
    kwargs = job.get("kwargs") or {}
    try:
        result = handler(home, dict(kwargs))
    except AgentError as exc:
        return {"ok": False, "error": exc.to_json()}
    except TypeError as exc:  # unknown or missing keyword: the request's fault
        return {"ok": False, "error": AgentError(f"{op}: {exc}", "usage").to_json()}
    except Exception as exc:  # noqa: BLE001 - a bug must still be one answer
        text = f"internal error in {op}: {type(exc).__name__}: {exc}"
        return {"ok": False, "error": AgentError(text, "internal").to_json()}
    return {"ok": True, "result": result}


PR_SET_PDEATHSIG = 1
"""prctl option: the signal the kernel sends this process when its parent dies (Linux)."""


def die_with_parent(parent: int) -> None:
    """Ties this process's life to `parent`'s: SIGKILL from the kernel where Linux's
    prctl exists, and a watcher thread polling getppid() everywhere (the fallback,
    and the guard against a parent that died before prctl ran)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the watcher below does it

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def die_with(pid: int) -> None:
    """Ties this process's life to the agent `pid` that is not its parent (a child the
    warm runtime forked): a watcher thread polls it and leaves when it is gone."""

    def watch() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass  # it exists (another user's pid now would be a reuse: rare, harmless)
            time.sleep(0.5)

    threading.Thread(target=watch, name="agent-watch", daemon=True).start()


def preload() -> None:
    """Imports numpy and the runtime before the first job (a serving child is started
    early, so this overlaps the agent's other work). A failure shows in that job."""
    try:
        from edge_agent import runtime

        runtime.detect_runtime()
    except Exception:  # noqa: BLE001, S110 - the job that needs the runtime reports it
        pass


def _answer(obj: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _parse_argv(argv: List[str]) -> Optional[Dict[str, Any]]:
    parsed: Dict[str, Any] = {"path": None, "serve": False, "home": "."}
    words = list(argv)
    while words:
        word = words.pop(0)
        if word == "--serve":
            parsed["serve"] = True
        elif word == "--home" and words:
            parsed["home"] = words.pop(0)
        elif not word.startswith("-") and parsed["path"] is None:
            parsed["path"] = word
        else:
            return None
    if parsed["path"] is None and not parsed["serve"]:
        return None
    return parsed


def main() -> int:
    """Entry point of the child; exits 0 when it could report its results."""
    parent = os.environ.get(PARENT_ENV)
    if parent and parent.isdigit():
        die_with_parent(int(parent))
    args = _parse_argv(sys.argv[1:])
    if args is None:
        sys.stderr.write(
            "usage: python -m edge_agent.validate_child [MODEL_PATH] [--serve --home HOME]\n"
        )
        return 2
    if args["path"] is not None:
        _answer(validate(args["path"]))
    if args["serve"]:
        preload()
        serve(args["home"])
    # Everything is answered and flushed: skip the interpreter's teardown of numpy and
    # the runtime (tens of ms of CPU on a small device).
    sys.stderr.flush()
    os._exit(0)


def serve(home: str) -> int:
    """Answers jobs, one JSON line each on stdin, until stdin closes; returns 0. The
    serving loop of a cold child and of one the warm runtime forked (`edge_agent.warm`)."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except ValueError:
            job = {"op": None}
        _answer(run_job(home, job if isinstance(job, dict) else {"op": None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
