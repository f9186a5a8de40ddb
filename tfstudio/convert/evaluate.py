"""Scores converted models on eval data, next to the float source.

Each variant runs in a LiteRT interpreter from `edge_agent.runtime` (the one
module that builds interpreters), one sample at a time: inputs are quantized
and outputs dequantized with the tensors' own scale and zero point, so int8
and int16 models are compared in real units. Scores use the first output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_agent import runtime
from tfstudio.errors import ConversionError


def run_tflite(model: bytes, x: np.ndarray, name: str) -> np.ndarray:
    """Returns the first output of `model` for every sample of `x`, as float32.

    Raises ConversionError when the runtime cannot load or run the model.
    """
    try:
        interpreter = runtime.make_interpreter(model_content=model, threads=1, quiet=True)
        input_detail = interpreter.get_input_details()[0]
        output_detail = interpreter.get_output_details()[0]
        outputs = []
        for i in range(x.shape[0]):
            value = runtime.quantize(x[i : i + 1], input_detail)
            result = runtime.run_once(interpreter, [value])[0]
            outputs.append(runtime.dequantize(result, output_detail))
    except runtime.RuntimeMissingError as exc:
        raise ConversionError(f"cannot evaluate {name}: {exc}") from exc
    except (ValueError, RuntimeError) as exc:
        raise ConversionError(f"{name} does not run in LiteRT: {_first_line(exc)}") from exc
    return np.concatenate(outputs, axis=0)


def check_loads(model: bytes, name: str) -> None:
    """Builds an interpreter for `model` (allocating its tensors) and discards it.

    Does nothing when no LiteRT runtime is installed. Raises ConversionError
    when the runtime rejects the model.
    """
    try:
        runtime.make_interpreter(model_content=model, threads=1, quiet=True)
    except runtime.RuntimeMissingError:
        return
    except (ValueError, RuntimeError) as exc:
        raise ConversionError(f"{name} does not load in LiteRT: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def score(outputs: np.ndarray, reference: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
    """Returns metrics of `outputs` against the float `reference` (and `labels` when given).

    Keys: samples, top1_agreement, max_abs_error, mean_abs_error, and accuracy with labels.
    """
    out = outputs.reshape(outputs.shape[0], -1)
    ref = reference.reshape(reference.shape[0], -1).astype(np.float32)
    diff = np.abs(out - ref)
    metrics: dict[str, Any] = {
        "samples": int(out.shape[0]),
        "top1_agreement": float(np.mean(out.argmax(axis=1) == ref.argmax(axis=1))),
        "max_abs_error": float(diff.max()),
        "mean_abs_error": float(diff.mean()),
    }
    if labels is not None:
        metrics["accuracy"] = accuracy(out, labels)
    return metrics


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Returns top-1 accuracy (0..1) of the outputs' argmax against integer labels."""
    flat = outputs.reshape(outputs.shape[0], -1)
    return float(np.mean(flat.argmax(axis=1) == labels))
