"""On-device evaluation: run eval data through a model with this device's own runtime.

With labels (`y`) it reports top-1 accuracy; with float reference outputs
(`reference`, the float model's answers) it reports top-1 agreement and the
largest and mean absolute error. The studio runs the same code on the host,
so any difference between the two figures is the runtime's (its kernels, its
delegate, its age), not the data's or the scoring's.

The loop is the bare one a user would write: inputs are converted (quantized)
once up front, then set / invoke / read one batch at a time into a
preallocated array, and outputs are dequantized once at the end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from edge_agent import fsutil, inputs
from edge_agent.errors import AgentError

REPORT_FILE = "eval.jsonl"
TOO_OLD_MARK = "Didn't find op for builtin opcode"
"""The runtime's words for a model newer than its kernels."""


def load_interpreter(path: str, threads: Optional[int]) -> Any:
    """Returns an allocated interpreter for `path` (`threads`: None leaves the runtime's default).

    Raises AgentError: no_runtime, runtime_too_old (an op version it lacks),
    invoke_failed (any other load failure).
    """
    from edge_agent import runtime

    try:
        info = runtime.detect_runtime()
    except runtime.RuntimeMissingError as exc:
        raise AgentError(str(exc), "no_runtime") from None
    try:
        return runtime.make_interpreter(model_path=path, threads=threads, quiet=True)
    except Exception as exc:  # noqa: BLE001 - the runtime's own text is the message
        text = str(exc)
        code = "runtime_too_old" if TOO_OLD_MARK in text else "invoke_failed"
        raise AgentError(
            f"{info.name} {info.version} could not load the model: {text}",
            code,
            hint="deploy a variant this runtime can run (int8 or float32), or update the "
            "runtime on the device"
            if code == "runtime_too_old"
            else None,
        ) from None


def pick_output(details: List[Dict[str, Any]], name: Optional[str]) -> Dict[str, Any]:
    """Returns the output detail called `name` (its short or full name), else the first."""
    if name is None:
        return details[0]
    for detail in details:
        if name in (detail["name"], inputs.short_name(detail["name"])):
            return detail
    have = ", ".join(inputs.short_name(d["name"]) for d in details)
    raise AgentError(f"the model has no output {name!r} (it has {have})", "usage")


def run_batches(interpreter: Any, xs: List[np.ndarray], output: Dict[str, Any]) -> np.ndarray:
    """Runs every sample of `xs` (one array per input) and returns the raw output rows.

    Batches follow the model's own batch size; a short last batch is padded
    with zeros and its padding dropped from the result.
    """
    details = interpreter.get_input_details()
    count = xs[0].shape[0]
    batch = max(1, int(details[0]["shape"][0]))
    out_shape = tuple(int(d) for d in output["shape"])
    result = np.empty((count, *out_shape[1:]), dtype=np.dtype(output["dtype"]))
    set_tensor, invoke, get = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor
    out_index = output["index"]
    if batch == 1 and len(xs) == 1:
        index, x = details[0]["index"], xs[0]
        for i in range(count):  # the hot loop: nothing in it but the runtime's own calls
            set_tensor(index, x[i : i + 1])
            invoke()
            result[i] = get(out_index)[0]
        return result
    indexes = [d["index"] for d in details]
    for start in range(0, count, batch):
        stop = min(start + batch, count)
        for index, x in zip(indexes, xs):
            chunk = x[start:stop]
            if stop - start < batch:
                pad = np.zeros((batch - (stop - start), *x.shape[1:]), dtype=x.dtype)
                chunk = np.concatenate([chunk, pad])
            set_tensor(index, chunk)
        invoke()
        result[start:stop] = get(out_index)[: stop - start]
    return result


def score(
    outputs: np.ndarray, y: Optional[np.ndarray], reference: Optional[np.ndarray]
) -> Dict[str, Any]:
    """Returns accuracy (with `y`) and agreement with `reference` (top-1, abs errors).

    Samples whose outputs are not finite are counted (`nonfinite_samples`),
    never agree, and are left out of the error figures.
    """
    count = outputs.shape[0]
    flat = outputs.reshape(count, -1).astype(np.float64)
    finite = np.isfinite(flat).all(axis=1)
    top1 = np.where(finite, np.nan_to_num(flat).argmax(axis=1), -1)
    out: Dict[str, Any] = {"nonfinite_samples": int(count - finite.sum())}
    if y is not None:
        out["accuracy"] = float(np.mean(top1 == y))
        out["correct"] = int(np.sum(top1 == y))
    if reference is not None:
        ref = np.asarray(reference).reshape(count, -1).astype(np.float64)
        if ref.shape != flat.shape:
            raise AgentError(
                f"eval data: reference has {ref.shape[1]} values per sample, the model's output "
                f"has {flat.shape[1]}",
                "bad_input",
            )
        out["top1_agreement"] = float(np.mean(top1 == ref.argmax(axis=1)))
        if finite.any():
            diff = np.abs(flat[finite] - ref[finite])
            out["max_abs_error"] = float(diff.max())
            out["mean_abs_error"] = float(diff.mean())
        else:
            out["max_abs_error"] = out["mean_abs_error"] = None
    out["top1"] = top1
    return out


def resolve(home: Path, ref: Optional[str]) -> Dict[str, Any]:
    """Returns {"sha256","name","path"} of a .tflite path, or of a stored sha/prefix or the
    active model (the store is imported only then: a device's eval of a pushed file
    starts faster). Raises AgentError: no_active, not_found, usage."""
    if ref is not None and Path(ref).is_file():
        return {"sha256": inputs.file_sha256(Path(ref)), "name": Path(ref).name.split(".")[0],
                "path": ref}  # fmt: skip
    from edge_agent.bench import resolve_model
    from edge_agent.store import Store

    return resolve_model(Store(home), ref)


def run_eval(
    home: Path,
    data_path: str,
    model_ref: Optional[str] = None,
    *,
    data_sha: Optional[str] = None,
    threads: Optional[int] = None,
    output: Optional[str] = None,
    with_top1: bool = False,
    outputs_to: Optional[str] = None,
) -> Dict[str, Any]:
    """Evaluates a model (stored sha/prefix, .tflite path, or the active one) on a data file,
    for the agent home `home`.

    Returns the report (also appended to reports/eval.jsonl, without `top1`).
    `outputs_to` saves the dequantized outputs as .npy (the studio's float
    reference). Raises AgentError: bad_input, sha256_mismatch, no_runtime,
    runtime_too_old, invoke_failed, no_active, not_found, usage.
    """
    from edge_agent import runtime

    if threads is not None and threads < 1:
        raise AgentError("--threads must be >= 1", "usage")
    begun = time.perf_counter()
    model = resolve(home, model_ref)
    arrays = inputs.load_arrays(data_path, "eval data", data_sha)
    started = time.perf_counter()
    interpreter = load_interpreter(model["path"], threads)
    init_ms = (time.perf_counter() - started) * 1000
    detail = pick_output(interpreter.get_output_details(), output)
    xs = inputs.model_inputs(interpreter.get_input_details(), arrays, "eval data")
    count = int(xs[0].shape[0])
    y = inputs.labels(arrays, count, "eval data")
    reference = arrays.get("reference")
    if reference is not None and np.asarray(reference).shape[:1] != (count,):
        raise AgentError(f"eval data: reference does not hold {count} samples", "bad_input")
    started = time.perf_counter()
    try:
        raw = run_batches(interpreter, xs, detail)
    except Exception as exc:  # noqa: BLE001 - the runtime refusing a tensor
        raise AgentError(f"invoke failed: {exc}", "invoke_failed") from None
    loop_ms = (time.perf_counter() - started) * 1000
    outputs = runtime.dequantize(raw, detail)
    scores = score(outputs, y, reference)
    top1 = scores.pop("top1")
    if outputs_to:
        _save(outputs_to, outputs)
    total_ms = (time.perf_counter() - begun) * 1000
    info = runtime.detect_runtime()
    report: Dict[str, Any] = {
        "model": model,
        "data": {
            "path": data_path,
            "sha256": data_sha or inputs.file_sha256(Path(data_path)),
            "samples": count,
            "labelled": y is not None,
            "reference": reference is not None,
        },
        "output": inputs.short_name(detail["name"]),
        **scores,
        "threads": threads,
        "init_ms": round(init_ms, 3),
        "loop_ms": round(loop_ms, 3),
        "per_sample_ms": round(loop_ms / count, 6),
        "total_ms": round(total_ms, 3),
        "runtime": {
            "name": info.name,
            "version": info.version,
            "compat_version": info.compat_version,
        },
        "timestamp": fsutil.utc_now(),
    }
    reports = home / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    fsutil.append_line(reports / REPORT_FILE, json.dumps(report, sort_keys=True))
    if with_top1:
        report["top1"] = [int(v) for v in top1]
    return report


def _save(path: str, outputs: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, outputs.astype(np.float32), allow_pickle=False)
    target = Path(path)
    fsutil.write_bytes_atomic(target.absolute(), buffer.getvalue())
