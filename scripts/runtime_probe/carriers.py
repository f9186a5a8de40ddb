"""Registration carriers: a real model whose operator-code table also lists (op, version).

A runtime resolves every entry of a model's operator-code table when it builds
the interpreter, used or not, and fails with "Didn't find op for builtin opcode
'X' version 'N'" (or "Op builtin_code out of range") when its op resolver has no
such registration. So a tiny working model (y = x + x) with one extra entry
(op, version) loads exactly when the runtime registers that op version: its
kernel's own checks never run, which makes this a test of registration alone.
The kernels themselves are tested by the zoo (`zoo.py`).

Needs TensorFlow once (its flatbuffer object API adds the entry to a template);
each carrier is then the template with that entry's code and version patched in.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from edge_agent.builtin_ops import BUILTIN_OPERATORS
from edge_agent.op_runtime_table import OP_RUNTIME_VERSIONS
from edge_agent.tflite_schema import _Reader

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
    template, fields = _template(base)
    outdir.mkdir(parents=True, exist_ok=True)
    carriers = []
    for code, name, version in probe_plan():
        path = outdir / f"{name}.v{version}.tflite"
        if not path.exists():
            data = bytearray(template)
            struct.pack_into("<b", data, fields["deprecated"], min(code, 127))
            struct.pack_into("<i", data, fields["builtin"], code)
            struct.pack_into("<i", data, fields["version"], version)
            path.write_bytes(bytes(data))
        carriers.append(Carrier(name, version, path))
    return carriers


def _template(base: bytes) -> tuple[bytes, dict[str, int]]:
    """The base model with one extra operator code, and where that entry's three fields
    lie. The entry is written with values that are not the schema's defaults, so that
    every field is stored (flatbuffers leave defaults out) and can be patched in place."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(base))
    entry = schema.OperatorCodeT()
    entry.builtinCode = entry.deprecatedBuiltinCode = 5
    entry.version = 7
    model.operatorCodes.append(entry)
    data = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    reader = _Reader(data)
    last = reader.tables(reader.deref(0), 1)[-1]
    positions = {
        "deprecated": reader.field_pos(last, 0),
        "version": reader.field_pos(last, 2),
        "builtin": reader.field_pos(last, 3),
    }
    found = {k: v for k, v in positions.items() if v is not None}
    if len(found) != 3:
        raise RuntimeError(f"the template's operator code lacks fields: {positions}")
    return data, found
