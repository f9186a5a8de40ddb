"""Checks that a converted model is what its mode says, before it is written.

The converter can exit cleanly with a model that is not what was asked for
(all-NaN representative data gives a float model with a QUANTIZE at the end,
which would be labelled int8). Here the flatbuffer's own facts decide: float
inputs and outputs must have the preset's inference types, and in the
full-integer modes no main compute op may write float32 unless
`--allow-float-fallback` allowed it.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_agent.tflite_schema import ModelFacts, TensorInfo
from tfstudio.convert.presets import Preset
from tfstudio.errors import ConversionError
from tfstudio.models.source import InputSpec, OutputSpec

MAIN_COMPUTE_OPS = frozenset(
    {
        "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "CONV_3D", "CONV_3D_TRANSPOSE",
        "FULLY_CONNECTED", "BATCH_MATMUL", "SVDF", "LSTM", "RNN",
        "UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM",
        "UNIDIRECTIONAL_SEQUENCE_RNN", "BIDIRECTIONAL_SEQUENCE_RNN",
    }
)  # fmt: skip
"""Ops that carry a model's arithmetic: a float kernel among them means it is not integer."""


_EDGE_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})
"""Ops that convert at the model's float edges: float output is their job."""


def float_ops(facts: ModelFacts) -> dict[str, int]:
    """Returns the ops (but quantize/dequantize) that write float32 tensors, over all subgraphs."""
    found: dict[str, int] = {}
    for graph in facts.subgraphs:
        for op, count in graph.float_ops.items():
            if op not in _EDGE_OPS:
                found[op] = found.get(op, 0) + count
    return found


def verify_mode(
    facts: ModelFacts,
    preset: Preset,
    inputs: Sequence[InputSpec],
    outputs: Sequence[OutputSpec],
    *,
    float_fallback: bool = False,
) -> dict[str, int]:
    """Checks the converted model against its preset.

    Returns the ops left in float by `float_fallback` in a full-integer mode
    (empty otherwise). Raises ConversionError naming every mismatch found.
    """
    want_in, want_out = preset.io_dtypes
    problems = _io_problems("input", facts.inputs, {s.name: s.dtype for s in inputs}, want_in)
    problems += _io_problems("output", facts.outputs, {s.name: s.dtype for s in outputs}, want_out)
    floats = float_ops(facts) if preset.integer_compute else {}
    compute = {op: n for op, n in floats.items() if op in MAIN_COMPUTE_OPS}
    allowed = bool(float_fallback and preset.float_fallback_ops)
    if compute and not allowed:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(compute.items()))
        problems.append(f"float kernels remain for {listed}")
    if problems:
        raise ConversionError(
            f"the converted model is not {preset.mode.value}: {'; '.join(problems)}",
            hint="the representative data may not exercise the model (constant or NaN "
            "values?); nothing was written for this mode",
        )
    return floats if allowed else {}


def _io_problems(
    kind: str, tensors: Sequence[TensorInfo], source: dict[str, str], want: str
) -> list[str]:
    problems = []
    for tensor in tensors:
        name = tensor.signature_name or tensor.name
        # Non-float tensors (token ids, masks) keep their type in every mode.
        if _is_float(source.get(name, "float32")) and tensor.dtype != want:
            problems.append(f"{kind} '{name}' is {tensor.dtype}, not {want}")
    return problems


def _is_float(dtype: str) -> bool:
    return dtype.startswith("float") or dtype == "bfloat16"
