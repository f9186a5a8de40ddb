"""Validation of a model on this device's runtime, isolated in a child process.

The child (`edge_agent.validate_child`) loads, allocates and invokes once. A
runtime that segfaults, aborts or hangs only takes the child down: the parent
maps that to `validation_crashed` / `validation_timeout`, and maps the
runtime's own refusal to `runtime_too_old` (naming op, version and runtime,
from the model's flatbuffer facts and the runtime's text) or `invoke_failed`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import edge_agent
from edge_agent.errors import AgentError, one_line
from edge_agent.tflite_schema import ModelFacts, parse_version

DEFAULT_TIMEOUT_S = 60.0
"""How long a load + allocate + one invoke may take before the model is refused."""

_OP_TEXT = re.compile(r"builtin opcode '([A-Z0-9_]+)' version '(\d+)'")
"""The runtime's text for an op (version) its kernels lack."""


def package_root() -> str:
    """Returns the sys.path entry holding `edge_agent` (a directory, or the .pyz itself)."""
    return str(Path(edge_agent.__file__).resolve().parent.parent)


def validate_model(path: Path, facts: ModelFacts, timeout_s: float) -> Dict[str, Any]:
    """Runs the child on `path`; returns its result dict ({"ok": true, "runtime", ...}).

    Raises AgentError: no_runtime, runtime_too_old, needs_tf_ops, invoke_failed,
    validation_crashed, validation_timeout.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root(), env.get("PYTHONPATH", "")) if p)
    env["TFSTUDIO_AGENT_PARENT"] = str(os.getpid())  # the child dies with this agent
    cmd = [sys.executable, "-m", "edge_agent.validate_child", str(path), facts.sha256]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # so a timeout can kill anything the runtime started
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        raise AgentError(
            f"validation did not finish within {timeout_s:g} s (load + one invoke); "
            "the model was refused",
            "validation_timeout",
            hint="the runtime hangs on this model, or the device is too slow: "
            "retry with a larger --timeout",
        ) from None
    if proc.returncode != 0:
        raise _crash_error(proc.returncode, err.decode("utf-8", "replace"))
    try:
        result: Dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise _crash_error(proc.returncode, err.decode("utf-8", "replace")) from None
    if not result.get("ok"):
        raise _refusal(result, facts)
    return result


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def _crash_error(returncode: int, stderr: str) -> AgentError:
    if returncode < 0:
        try:
            how = f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"signal {-returncode}"
    else:
        how = f"exit status {returncode}"
    tail = one_line(stderr)[-300:]
    return AgentError(
        f"the runtime crashed while validating the model ({how})" + (f": {tail}" if tail else ""),
        "validation_crashed",
        hint="the model is refused; the agent itself is unaffected. Try another runtime "
        "version or re-convert the model",
    )


def _refusal(result: Dict[str, Any], facts: ModelFacts) -> AgentError:
    stage = result.get("stage")
    text = one_line(str(result.get("error", "")))
    if stage == "changed":
        return AgentError(
            "the model file changed while it was being installed; nothing was installed",
            "sha256_mismatch",
            hint="finish the upload before installing (upload as .partial, then rename)",
        )
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
            f"{rt_name} could not load the model: {text}",
            "invoke_failed",
            hint="the file may be corrupt or need custom ops this runtime lacks",
        )
    return AgentError(
        f"the model loaded but its test invoke failed on {rt_name}: {text}",
        "invoke_failed",
    )


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
