"""Registration carriers: a real model whose operator-code table also lists (op, version).

A runtime resolves every entry of a model's operator-code table when it builds
the interpreter, used or not, and fails with "Didn't find op for builtin opcode
'X' version 'N'" (or "Op builtin_code out of range") when its op resolver has no
such registration. So a tiny working model (y = x + x) with one extra entry
(op, version) loads exactly when the runtime registers that op version: its
kernel's own checks never run, which makes this a test of registration alone.
The kernels themselves are tested by the zoo (`zoo.py`).

Needs TensorFlow (its flatbuffer object API rewrites the table).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge_agent.builtin_ops import BUILTIN_OPERATORS
from edge_agent.op_runtime_table import OP_RUNTIME_VERSIONS

NOT_OPS = {"CUSTOM", "DELEGATE", "PLACEHOLDER_FOR_GREATER_OP_CODES"}
"""Codes that name no builtin kernel."""
EXTRA_VERSIONS = 2
"""Versions probed past the newest the runtime_version.cc table knows."""


@dataclass(frozen=True)
class Carrier:
    """A registration carrier: the (op, version) it lists and its file."""

    op: str
    version: int
    path: Path


def probe_plan() -> list[tuple[int, str, int]]:
    """Returns every (code, op, version) to probe: versions 1 to the table's newest + 2."""
    plan = []
    for code, name in sorted(BUILTIN_OPERATORS.items()):
        if name in NOT_OPS:
            continue
        newest = max(OP_RUNTIME_VERSIONS.get(name, {1: ""}))
        plan += [(code, name, v) for v in range(1, newest + EXTRA_VERSIONS + 1)]
    return plan


def build_carriers(outdir: Path, base: bytes) -> list[Carrier]:
    """Writes one carrier per planned (op, version) into `outdir` (kept when there);
    `base` is the working model's bytes. Returns them in plan order."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    outdir.mkdir(parents=True, exist_ok=True)
    carriers = []
    for code, name, version in probe_plan():
        path = outdir / f"{name}.v{version}.tflite"
        if not path.exists():
            model = flatbuffer_utils.convert_bytearray_to_object(bytearray(base))
            entry = schema.OperatorCodeT()
            entry.builtinCode = code
            # Codes above 127 live in the int32 field; the int8 one says "look there".
            entry.deprecatedBuiltinCode = min(code, 127)
            entry.version = version
            model.operatorCodes.append(entry)
            path.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
        carriers.append(Carrier(name, version, path))
    return carriers
