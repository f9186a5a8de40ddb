"""Turns a TF-Serving-shaped predict request into tensors, runs it, and encodes the answer.

Row format `{"instances": [...]}` (one entry per example; a dict per example
for a multi-input model) and columnar format `{"inputs": ...}` (a batched
array, or a dict of them). Values are the input tensors' own dtype (an int8
model takes int8 numbers), so an answer equals a direct interpreter call.
Every malformed request raises `BadRequest`, which the server turns into 400.
Bodies nested deeper than any tensor needs are refused before they are
decoded, and outputs that are not finite numbers are written as null (JSON
has no NaN or Infinity).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects a request may have: a tensor has a few
dimensions, so anything deeper is an attack on the decoder, not a request."""

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


class BadRequest(Exception):
    """The request cannot be run; the message is returned with HTTP 400."""


def json_depth(raw: bytes) -> int:
    """Returns the deepest nesting of `[`/`{` in a JSON text (brackets in strings ignored)."""
    skeleton = _JSON_STRING.sub(b"", raw)
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    if codes.size == 0:
        return 0
    steps = np.isin(codes, (91, 123)).astype(np.int32) - np.isin(codes, (93, 125))
    return int(max(0, np.cumsum(steps).max()))


def decode_request(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Returns the decoded JSON body. Raises BadRequest for bad or too deeply nested JSON."""
    if json_depth(raw) > max_depth:
        raise BadRequest(f"bad request: the JSON is nested deeper than {max_depth} levels")
    try:
        return json.loads(raw)
    except RecursionError:  # a belt to the depth check's braces
        raise BadRequest("bad request: the JSON is nested too deeply") from None
    except ValueError as exc:  # JSON syntax and encoding errors
        raise BadRequest(f"bad request: {exc}") from None


def _to_json(value: np.ndarray) -> Any:
    """Returns `value.tolist()`, with NaN and ±Infinity as None (JSON cannot carry them)."""
    if value.dtype.kind == "f":
        finite = np.isfinite(value)
        if not finite.all():
            out = value.astype(object)
            out[~finite] = None
            return out.tolist()
    return value.tolist()


@dataclass
class LoadedModel:
    """An interpreter of one model, with the lock that serialises its invokes."""

    sha256: str
    name: str
    interpreter: Any
    inputs: List[Dict[str, Any]]
    outputs: List[Dict[str, Any]]
    lock: threading.Lock = field(default_factory=threading.Lock)


def _short(name: str) -> str:
    """'serving_default_x:0' → 'x' : clients may use either name."""
    base = name.split(":")[0]
    return base[len("serving_default_") :] if base.startswith("serving_default_") else base


def _columns(model: LoadedModel, body: Dict[str, Any]) -> List[Any]:
    """Returns one (batched) value per model input, in input order."""
    names = [d["name"] for d in model.inputs]
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise BadRequest('"instances" must be a non-empty list')
        if len(names) == 1:
            key = names[0]
            return [[_pick(row, key) if isinstance(row, dict) else row for row in rows]]
        if not all(isinstance(row, dict) for row in rows):
            raise BadRequest(f"this model has {len(names)} inputs: each instance must be an object")
        return [[_pick(row, key) for row in rows] for key in names]
    if "inputs" in body:
        value = body["inputs"]
        if isinstance(value, dict):
            return [_pick(value, key) for key in names]
        if len(names) != 1:
            raise BadRequest(f'this model has {len(names)} inputs: "inputs" must be an object')
        return [value]
    raise BadRequest('the request needs "instances" or "inputs"')


def _pick(obj: Dict[str, Any], name: str) -> Any:
    for key in (name, _short(name)):
        if key in obj:
            return obj[key]
    raise BadRequest(f"missing input {_short(name)!r}")


def _tensor(value: Any, detail: Dict[str, Any]) -> np.ndarray:
    label = _short(detail["name"])
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"input {label!r} is not a rectangular array ({exc})") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise BadRequest(f"input {label!r} must be a rectangular array of numbers")
    want = tuple(int(d) for d in detail["shape"])
    if arr.ndim != len(want) or tuple(arr.shape[1:]) != want[1:]:
        raise BadRequest(
            f"input {label!r} has shape {tuple(arr.shape)}, the model takes (N, "
            f"{', '.join(str(d) for d in want[1:])})"
        )
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        if arr.dtype.kind == "f" and not np.all(np.equal(np.mod(arr, 1), 0)):
            raise BadRequest(f"input {label!r} takes {dtype} integers, got fractions")
        info = np.iinfo(dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise BadRequest(f"input {label!r} values must lie in [{info.min}, {info.max}]")
    return arr.astype(dtype)


def run_predict(
    model: LoadedModel, body: Any, on_invoke: Optional[Callable[[float], None]] = None
) -> Dict[str, Any]:
    """Runs a parsed JSON request; returns {"predictions": [...]}. Raises BadRequest.

    `on_invoke(seconds)` is told the time of each interpreter invoke (the server's
    invoke latency histogram)."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    tensors = [_tensor(v, d) for v, d in zip(_columns(model, body), model.inputs)]
    batch = {t.shape[0] for t in tensors}
    if len(batch) != 1:
        raise BadRequest("all inputs must have the same batch size")
    n = batch.pop()
    model_batch = int(model.inputs[0]["shape"][0])
    if n == model_batch:
        chunks = [tensors]
    elif model_batch == 1:
        chunks = [[t[i : i + 1] for t in tensors] for i in range(n)]
    else:
        raise BadRequest(f"a batch of {n} does not fit the model's batch size {model_batch}")
    per_output: List[List[np.ndarray]] = [[] for _ in model.outputs]
    with model.lock:  # interpreters are not thread-safe
        interp = model.interpreter
        for chunk in chunks:
            for detail, value in zip(model.inputs, chunk):
                interp.set_tensor(detail["index"], value)
            started = time.perf_counter()
            interp.invoke()
            if on_invoke is not None:
                on_invoke(time.perf_counter() - started)
            for k, detail in enumerate(model.outputs):
                per_output[k].append(interp.get_tensor(detail["index"]).copy())
    merged = [np.concatenate(parts, axis=0) for parts in per_output]
    if len(merged) == 1:
        predictions: List[Any] = _to_json(merged[0])
    else:
        names = [_short(d["name"]) for d in model.outputs]
        predictions = [
            {name: _to_json(out[i]) for name, out in zip(names, merged)} for i in range(n)
        ]
    return {"predictions": predictions, "model_version": model.sha256}


def tensor_meta(details: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Returns JSON-able {name, shape, dtype, quantization} of input/output details."""
    out = []
    for d in details:
        scale, zero = d.get("quantization", (0.0, 0))
        out.append(
            {
                "name": _short(d["name"]),
                "tensor_name": d["name"],
                "shape": [int(x) for x in d["shape"]],
                "dtype": np.dtype(d["dtype"]).name,
                "quantization": {"scale": float(scale), "zero_point": int(zero)} if scale else None,
            }
        )
    return out
