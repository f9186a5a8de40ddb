"""The child process of validation: load, allocate, one invoke on generated input.

Run as `python -m edge_agent.validate_child MODEL_PATH SHA256`. It prints one
JSON object on stdout: {"ok": true, "runtime": {...}, "load_ms", "invoke_ms"}
or {"ok": false, "stage": "changed"|"runtime"|"load"|"invoke", "error": "..."}
("changed": the file no longer has the sha256 the parent verified).
A segfault or a hang here only kills this process; the parent maps it.
The child dies with its parent (the agent): a killed install leaves no
validation running on, holding the model's memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
from typing import Any, Dict, List

PARENT_ENV = "TFSTUDIO_AGENT_PARENT"
"""The pid of the agent that started this child (set by `validate.validate_model`)."""

FAULT_ENV = "TFSTUDIO_AGENT_FAULT"
"""Test hook: `validate-crash` (SIGSEGV itself) or `validate-hang` (sleep) after the load,
so tests can drive the parent's isolation of a runtime that crashes or hangs."""


def validate(model_path: str, sha256: str) -> Dict[str, Any]:
    """Returns the result object described in the module docstring."""
    with open(model_path, "rb") as handle:
        content = handle.read()
    if hashlib.sha256(content).hexdigest() != sha256:
        return {"ok": False, "stage": "changed", "error": "the file changed during install"}
    try:
        import numpy as np

        from edge_agent import runtime

        info = runtime.detect_runtime()
    except Exception as exc:  # noqa: BLE001 - any import failure means "no runtime"
        return {"ok": False, "stage": "runtime", "error": f"{type(exc).__name__}: {exc}"}
    rt = {"name": info.name, "version": info.version, "compat_version": info.compat_version}
    t0 = time.perf_counter()
    try:
        interpreter = runtime.make_interpreter(model_content=content)
    except Exception as exc:  # noqa: BLE001 - the runtime's own text is the message
        return {"ok": False, "stage": "load", "error": str(exc), "runtime": rt}
    load_ms = (time.perf_counter() - t0) * 1e3
    fault = os.environ.get(FAULT_ENV, "")
    if fault == "validate-crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault == "validate-hang":
        time.sleep(3600)
    rng = np.random.default_rng(0)
    try:
        inputs = [
            runtime.generated_input(d, "random", rng) for d in interpreter.get_input_details()
        ]
        t1 = time.perf_counter()
        outputs: List[Any] = runtime.run_once(interpreter, inputs)
        invoke_ms = (time.perf_counter() - t1) * 1e3
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "stage": "invoke", "error": str(exc), "runtime": rt}
    return {
        "ok": True,
        "runtime": rt,
        "load_ms": round(load_ms, 3),
        "invoke_ms": round(invoke_ms, 3),
        "outputs": [list(o.shape) for o in outputs],
    }


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


def main() -> int:
    """Entry point of the child; always exits 0 when it could report a result."""
    parent = os.environ.get(PARENT_ENV)
    if parent and parent.isdigit():
        die_with_parent(int(parent))
    if len(sys.argv) != 3:
        sys.stderr.write("usage: python -m edge_agent.validate_child MODEL_PATH SHA256\n")
        return 2
    result = validate(sys.argv[1], sys.argv[2])
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
