"""Scores converted models on eval data, next to the float source, output by output.

Each variant runs in a LiteRT interpreter from `edge_agent.runtime` (the one
module that builds interpreters) through its signature runner, so outputs are
matched to the float model's by NAME, never by position (Keras order, sorted
signature keys and flatbuffer order all differ). Inputs are quantized and
outputs dequantized with the tensors' own scale and zero point, so int8 and
int16 models are compared in real units. Every output is scored; accuracy is
computed on the one chosen as the eval output. No metric is ever NaN: a value
that cannot be computed is None, with its reason in `null_reasons`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_agent import runtime
from tfstudio.convert.engine import run_batched
from tfstudio.convert.repdata import Samples
from tfstudio.errors import ConversionError
from tfstudio.models.source import SERVING_KEY


def run_tflite(
    model: bytes, samples: Samples, name: str, signature: str = SERVING_KEY
) -> dict[str, np.ndarray]:
    """Returns every output of `model`'s `signature` for every sample, by name, as float32.

    Raises ConversionError when the runtime cannot load or run the model, or
    the model has no signature to map its inputs and outputs by name.
    """
    try:
        interpreter = runtime.make_interpreter(model_content=model, threads=1, quiet=True)
        keys = list(interpreter.get_signature_list())
        if not keys:
            raise ConversionError(f"{name} has no signature: its outputs cannot be mapped by name")
        runner = interpreter.get_signature_runner(signature if signature in keys else keys[0])
        inputs = runner.get_input_details()
        outputs = runner.get_output_details()
        if set(inputs) != set(samples.inputs):
            raise ConversionError(
                f"{name} has inputs {', '.join(sorted(inputs))}, the source has "
                f"{', '.join(sorted(samples.inputs))}"
            )
        first = next(iter(inputs.values()))
        static = int(first["shape_signature"][0]) if len(first["shape_signature"]) else -1
        batch = static if static > 0 else 1

        def call(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            feed = {k: runtime.quantize(v, inputs[k]) for k, v in rows.items()}
            result = runner(**feed)
            return {k: runtime.dequantize(v, outputs[k]) for k, v in result.items()}

        return run_batched(samples, batch, call, pad=static > 0)
    except runtime.RuntimeMissingError as exc:
        raise ConversionError(f"cannot evaluate {name}: {exc}") from exc
    except (ValueError, RuntimeError, KeyError) as exc:
        raise ConversionError(f"{name} does not run in LiteRT: {_first_line(exc)}") from exc


def check_runs(
    model: bytes,
    name: str,
    sample: dict[str, np.ndarray] | None = None,
    signature: str = SERVING_KEY,
) -> None:
    """Loads `model`, allocates it and invokes its `signature` once, then discards it.

    The inputs are `sample` (one calibration batch, by input name, in real units;
    quantized here for integer inputs), else zeros of each input's dtype and shape.
    A registered op can still lack the kernel for its tensor types, and some fail
    only when invoked ("SquaredDifference only supports FLOAT32 and INT32"): a model
    that was never run is not known to run. Does nothing when no LiteRT runtime is
    installed. Raises ConversionError with the runtime's own words.
    """
    try:
        interpreter = runtime.make_interpreter(model_content=model, threads=1, quiet=True)
    except runtime.RuntimeMissingError:
        return
    except (ValueError, RuntimeError) as exc:
        raise ConversionError(
            f"{name} does not load in LiteRT ({_runtime_label()}): {_first_line(exc)}"
        ) from exc
    try:
        keys = list(interpreter.get_signature_list())
        if keys:
            runner = interpreter.get_signature_runner(signature if signature in keys else keys[0])
            details = runner.get_input_details()
            feed = {k: _one_input(d, sample, k) for k, d in details.items()}
            with runtime.stderr_silenced():
                runner(**feed)
        else:
            for detail in interpreter.get_input_details():
                interpreter.set_tensor(detail["index"], _one_input(detail, None, ""))
            with runtime.stderr_silenced():
                interpreter.invoke()
    except (ValueError, RuntimeError) as exc:
        raise ConversionError(
            f"{name} loads but does not run in LiteRT ({_runtime_label()}): {_first_line(exc)}"
        ) from exc


def _one_input(detail: dict[str, Any], sample: dict[str, np.ndarray] | None, key: str) -> Any:
    if sample is not None and key in sample:
        return runtime.quantize(sample[key], detail)
    return np.zeros(tuple(int(d) for d in detail["shape"]), dtype=detail["dtype"])


def _runtime_label() -> str:
    try:
        info = runtime.detect_runtime()
    except runtime.RuntimeMissingError:
        return "LiteRT"
    return f"{info.name} {info.version}"


def score(
    outputs: dict[str, np.ndarray],
    reference: dict[str, np.ndarray],
    eval_output: str,
    labels: np.ndarray | None,
) -> dict[str, Any]:
    """Returns metrics of every output against the float `reference`, by name.

    Top level: samples, eval_output, and the eval output's top1_agreement,
    max_abs_error, mean_abs_error (and accuracy with labels); `outputs` holds
    each output's own metrics. Raises ConversionError when an output is
    missing or has another shape.
    """
    per: dict[str, dict[str, Any]] = {}
    for name, ref in reference.items():
        if name not in outputs:
            raise ConversionError(
                f"the converted model has no output '{name}' (it has {', '.join(sorted(outputs))})"
            )
        per[name] = compare(outputs[name], ref, name)
    chosen = dict(per[eval_output])
    reasons = dict(chosen.pop("null_reasons", {}))
    metrics: dict[str, Any] = {
        "samples": int(len(reference[eval_output])),
        "eval_output": eval_output,
    }
    metrics.update(chosen)
    if labels is not None:
        metrics["accuracy"] = accuracy(outputs[eval_output], labels)
    metrics["outputs"] = per
    if reasons:
        metrics["null_reasons"] = reasons
    return metrics


def compare(out: np.ndarray, ref: np.ndarray, name: str) -> dict[str, Any]:
    """Returns {top1_agreement, max_abs_error, mean_abs_error, nonfinite_samples} of one output.

    Samples where either model gives NaN or infinity (`nonfinite_samples`) count
    as disagreeing and are left out of the errors; values that cannot be
    computed are None with a reason under `null_reasons`.
    """
    if out.shape != ref.shape:
        raise ConversionError(
            f"output '{name}' has shape {tuple(out.shape)} in the converted model but "
            f"{tuple(ref.shape)} in the float source"
        )
    n = out.shape[0]
    flat_out = out.reshape(n, -1).astype(np.float64)
    flat_ref = ref.reshape(n, -1).astype(np.float64)
    finite_rows = np.isfinite(flat_out).all(axis=1) & np.isfinite(flat_ref).all(axis=1)
    bad = int(n - finite_rows.sum())
    result: dict[str, Any] = {"nonfinite_samples": bad}
    reasons: dict[str, str] = {}
    if not finite_rows.any():
        why = f"all {n} samples gave NaN or infinity"
        for key in ("top1_agreement", "max_abs_error", "mean_abs_error"):
            result[key] = None
            reasons[key] = why
    else:
        if flat_out.shape[1] > 1:
            agree = (flat_out.argmax(axis=1) == flat_ref.argmax(axis=1)) & finite_rows
            result["top1_agreement"] = float(agree.mean())
        else:
            result["top1_agreement"] = None
            reasons["top1_agreement"] = "the output has a single value per sample, no classes"
        diff = np.abs(flat_out[finite_rows] - flat_ref[finite_rows])
        result["max_abs_error"] = float(diff.max())
        result["mean_abs_error"] = float(diff.mean())
    if reasons:
        result["null_reasons"] = reasons
    return result


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Returns top-1 accuracy (0..1) against integer labels.

    An (N, 1) output is a binary score, thresholded at 0.5; rows with NaN or
    infinity count as wrong.
    """
    flat = outputs.reshape(outputs.shape[0], -1).astype(np.float64)
    finite = np.isfinite(flat).all(axis=1)
    predicted = (flat[:, 0] >= 0.5).astype(np.int64) if flat.shape[1] == 1 else flat.argmax(axis=1)
    return float(np.mean((predicted == labels) & finite))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
