"""Turns a converter failure (long, MLIR-flavoured, repetitive) into one line and a fix.

The converter's text names every call site of every failing op; what a user
needs is each distinct reason once, the converter's own advice (e.g. "Lowering
tensor list ops is failed. Please consider using Select TF ops ..."), and the
tfstudio option that acts on it (`--select-tf-ops`, `--fixed-batch`,
`--allow-float-fallback`).
"""

from __future__ import annotations

import re

MAX_REASON = 600
"""Characters kept of the joined reasons: enough for several ops and the advice."""

_UNSUPPORTED = re.compile(r"^(?:Custom|Flex|TF Select) ops: (.+)$", re.MULTILINE)
"""The converter's list of ops builtins lack ("TF Select ops: ExtractImagePatches" in TF
2.21, "Flex ops: ..." before it)."""
_NOT_16X8 = re.compile(r"Quantization to 16x8-bit not yet supported for op: '([A-Za-z0-9_]+)'")
_TENSOR_LIST = ("TensorList", "tensor list")

FLEX_HINT = (
    "--select-tf-ops converts them as TensorFlow (Flex) ops; the device runtime then needs "
    "the Flex delegate"
)
RECURRENT_HINT = (
    "a recurrent layer (LSTM/GRU) with a dynamic batch size: convert the .keras/.h5 with "
    "--fixed-batch 1 (builtin ops only), or with --select-tf-ops (Flex ops; the device "
    "runtime then needs the Flex delegate)"
)
FALLBACK_HINT = (
    "--allow-float-fallback keeps the ops that have no 16x8 kernel in float (the rest "
    "stays int16x8)"
)


def converter_failure(text: str) -> tuple[str, str | None]:
    """Returns (one-line reason, hint or None) for the text of a converter exception."""
    unsupported = _UNSUPPORTED.findall(text)
    if unsupported:
        names = dict.fromkeys(n.strip() for line in unsupported for n in line.split(","))
        return "the model uses ops that TFLite builtins lack: " + ", ".join(names), FLEX_HINT
    not_16x8 = list(dict.fromkeys(_NOT_16X8.findall(text)))
    if not_16x8:
        return (
            "16x8 quantization does not support op"
            + ("s " if len(not_16x8) > 1 else " ")
            + ", ".join(not_16x8),
            FALLBACK_HINT,
        )
    reasons = _reasons(text)
    reason = "; ".join(reasons)[:MAX_REASON] if reasons else first_line(text)
    if any(marker in text for marker in _TENSOR_LIST):
        return reason, RECURRENT_HINT
    return reason, None


def _reasons(text: str) -> list[str]:
    """Each distinct 'error:' reason of the text, without its location prefix, in order."""
    found: list[str] = []
    for line in text.splitlines():
        if "error:" not in line:
            continue
        reason = line.split("error:", 1)[1].strip()
        if reason.startswith("loc("):
            # 'loc(callsite(...)): reason' -> 'reason'
            reason = reason.rsplit("): ", 1)[-1].strip()
        # The converter's advice quotes Python with a literal '\n' between statements.
        reason = " ".join(reason.replace("\\n", " ").split())
        if reason and reason not in found:
            found.append(reason)
    return found


def first_line(text: str, default: str = "the converter gave no reason") -> str:
    """Returns the first line that carries a reason (TF prefixes some with '<unknown>')."""
    for line in text.splitlines():
        line = line.strip()
        # TF's ConverterError starts with a file:line prefix; the reason follows it.
        if line and not line.startswith("<unknown>"):
            return line[:300]
    return default
