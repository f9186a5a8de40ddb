"""Facts about a `.tflite` file, read without tensorflow.

A thin, stable front over `edge_agent.tflite_schema` for the studio: `inspect`,
the conversion report and the deploy preflight all use it, so they describe a
model with the same fields and fail with the same one-line error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_agent import tflite_schema
from edge_agent.tflite_schema import ModelFacts, TensorInfo
from tfstudio.errors import ModelFormatError

__all__ = ["ModelFacts", "facts_to_json", "inspect_bytes", "inspect_model"]


def inspect_model(path: str | Path) -> ModelFacts:
    """Returns the facts of the .tflite file at `path`.

    Raises tfstudio.errors.ModelFormatError (one line naming the file) when it
    is missing, unreadable, not a TFLite flatbuffer or truncated.
    """
    model = Path(path)
    if model.is_dir():
        raise ModelFormatError(f"{path} is a directory, not a .tflite file")
    try:
        return tflite_schema.read_model_facts(model)
    except FileNotFoundError as exc:
        raise ModelFormatError(f"{path} does not exist") from exc
    except OSError as exc:
        raise ModelFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except tflite_schema.ModelFormatError as exc:
        raise ModelFormatError(f"{path}: {exc}") from exc


def inspect_bytes(data: bytes, name: str) -> ModelFacts:
    """Returns the facts of an in-memory model; `name` is used in the error message.

    Raises tfstudio.errors.ModelFormatError.
    """
    try:
        return tflite_schema.read_model_facts(data)
    except tflite_schema.ModelFormatError as exc:
        raise ModelFormatError(f"{name}: {exc}") from exc


def facts_to_json(facts: ModelFacts, path: str | Path | None = None) -> dict[str, Any]:
    """Returns the per-model fields shared by `inspect --json` and `convert --json`.

    Keys: path (when given), size_bytes, sha256, min_runtime_version,
    ops [{name, version}], inputs and outputs [{name, shape, dtype, quantization}].
    """
    out: dict[str, Any] = {}
    if path is not None:
        out["path"] = str(path)
    out.update(
        size_bytes=facts.size_bytes,
        sha256=facts.sha256,
        min_runtime_version=facts.min_runtime_version,
        ops=[{"name": op.name, "version": op.version} for op in facts.ops],
        inputs=[_tensor_json(t) for t in facts.inputs],
        outputs=[_tensor_json(t) for t in facts.outputs],
    )
    return out


def _tensor_json(tensor: TensorInfo) -> dict[str, Any]:
    return {
        "name": tensor.name,
        "shape": list(tensor.shape),
        "dtype": tensor.dtype,
        "quantization": tensor.quantization,
    }
