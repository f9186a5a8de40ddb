"""The child process of validation: load, allocate, one invoke on generated input.

Run as `python -m edge_agent.validate_child MODEL_PATH SHA256`. It prints one
JSON object on stdout: {"ok": true, "runtime": {...}, "load_ms", "invoke_ms"}
or {"ok": false, "stage": "changed"|"runtime"|"load"|"invoke", "error": "..."}
("changed": the file no longer has the sha256 the parent verified).
A segfault or a hang here only kills this process; the parent maps it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from typing import Any, Dict, List

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


def main() -> int:
    """Entry point of the child; always exits 0 when it could report a result."""
    if len(sys.argv) != 3:
        sys.stderr.write("usage: python -m edge_agent.validate_child MODEL_PATH SHA256\n")
        return 2
    result = validate(sys.argv[1], sys.argv[2])
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
