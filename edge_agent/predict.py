"""Turns a TF Serving predict request into tensors, runs it, and writes TF Serving's answer.

The rules are those of TF Serving's `util/json_tensor.cc`. A request is a JSON
object with `instances` (row format: one entry per example, either an object of
named inputs or, for a one-input signature, the value itself) or `inputs`
(columnar format: one value, or an object of named inputs), never both, and an
optional `signature_name` string; other keys are ignored, as TF Serving ignores
them. Inputs and outputs go by their signature names (`signatures`). Values
have the input's own dtype (an int8 model takes int8 numbers; a string input
takes strings, or `{"b64": ...}` for bytes), so an answer equals a direct
interpreter call.

Rows are answered with `{"predictions": [...]}` (per example the value, or an
object of named outputs when there are several), columns with `{"outputs": ...}`
(the value, or an object of named outputs). Floats are written as their
shortest decimal (0.1, not 0.10000000149011612), as TF Serving writes them;
non-finite ones as null, since JSON has no NaN (TF Serving writes the non-JSON
token NaN there). Strings are written as text, or `{"b64": ...}` for an output
whose name ends in `_bytes` (TF Serving's rule) and for bytes that are not UTF-8.

Every malformed request raises `BadRequest` (400). Bodies nested deeper than
any tensor needs are refused before they are decoded.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from edge_agent.signatures import DEFAULT_KEY, Signature, default_key

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects a request may have: a tensor has a few
dimensions, so anything deeper is an attack on the decoder, not a request."""

SHORTEST_CHUNK = 1 << 16
"""Floats turned into their shortest decimal at a time: bounds the text buffer
(a million outputs would otherwise take 60 MB of numpy strings at once)."""

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


class BadRequest(Exception):
    """The request cannot be run; the message is returned with HTTP 400."""


@dataclass
class LoadedModel:
    """An interpreter of one stored model, with the lock that serialises its invokes."""

    sha256: str
    name: str
    version: int
    interpreter: Any
    signatures: Dict[str, Signature]
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def default_signature(self) -> Signature:
        """The signature of a request without `signature_name`."""
        return self.signatures[default_key(self.signatures)]


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
        raise BadRequest(f"bad request: JSON Parse error: {exc}") from None


def _excerpt(value: Any, limit: int = 80) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_b64(value: Any) -> bool:
    """True for {"b64": "<string>"}, TF Serving's form of binary data."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


# ---- the request ----


@dataclass(frozen=True)
class Request:
    """A parsed predict request: the signature, the format, one JSON value per input."""

    signature: Signature
    columnar: bool
    values: Dict[str, Any]


def parse_request(model: LoadedModel, body: Any) -> Request:
    """Returns the request's signature and input values. Raises BadRequest."""
    if not isinstance(body, dict):
        raise BadRequest(
            f"the request must be a JSON object: JSON Value: {_excerpt(body)} Is not object"
        )
    signature = _signature(model, body)
    has_rows, has_columns = "instances" in body, "inputs" in body
    if has_rows and has_columns:
        raise BadRequest(
            "Not formatted correctly: expecting only one of 'inputs' or 'instances' keys to exist"
        )
    if has_rows:
        return Request(signature, False, _rows(body["instances"], list(signature.inputs)))
    if has_columns:
        return Request(signature, True, _columns(body["inputs"], list(signature.inputs)))
    raise BadRequest("Missing 'inputs' or 'instances' key")


def _signature(model: LoadedModel, body: Dict[str, Any]) -> Signature:
    name = body.get("signature_name", "")
    if not isinstance(name, str):
        raise BadRequest(
            f"JSON Value: {_excerpt(name)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    if not name or (name == DEFAULT_KEY and name not in model.signatures):
        return model.default_signature
    if name not in model.signatures:
        raise BadRequest(f'Serving signature name: "{name}" not found in signature def')
    return model.signatures[name]


def _rows(rows: Any, names: List[str]) -> Dict[str, Any]:
    if not isinstance(rows, list):
        raise BadRequest("Expecting 'instances' to be a list/array")
    if not rows:
        raise BadRequest("No values in 'instances' array")
    objects = isinstance(rows[0], dict) and not _is_b64(rows[0])
    if not objects:
        if len(names) > 1:
            raise BadRequest(
                f"instances is a plain list, but this signature has {len(names)} inputs "
                f"({', '.join(names)}): expecting a list of objects"
            )
        for i, row in enumerate(rows):
            if isinstance(row, dict) and not _is_b64(row):
                raise BadRequest(f"Expecting value/list but got object at item {i} of input list")
        return {names[0]: rows}
    wanted = set(names)
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or _is_b64(row):
            raise BadRequest(f"Expecting object but got list at item {i} of input list")
        unknown = sorted(set(row) - wanted)
        if unknown:
            raise BadRequest(
                f"Failed to process element: {i} key: {unknown[0]} of 'instances' list. "
                f"Error: JSON object: does not have named input: {unknown[0]}"
            )
        missing = sorted(wanted - set(row))
        if missing:
            raise BadRequest(
                f"Failed to process element: {i} of 'instances' list: missing named "
                f"input{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(keys must be: {', '.join(sorted(names))})"
            )
    return {name: [row[name] for row in rows] for name in names}


def _columns(value: Any, names: List[str]) -> Dict[str, Any]:
    if not isinstance(value, dict) or _is_b64(value):
        if len(names) > 1:
            raise BadRequest(
                f"inputs is a plain value/list, but this signature has {len(names)} inputs "
                f"({', '.join(names)}): expecting an object of them"
            )
        return {names[0]: value}
    for name in names:  # other keys are ignored, as TF Serving ignores them
        if name not in value:
            raise BadRequest(f"Missing named input: {name} in 'inputs' object.")
    return {name: value[name] for name in names}


# ---- JSON values → tensors ----


def to_tensor(value: Any, detail: Dict[str, Any], label: str) -> np.ndarray:
    """Returns `value` as an array of the input's dtype and rank. Raises BadRequest."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind in "SOU":
        arr = _strings(value, label)
    else:
        arr = _numbers(value, dtype, label)
    want = tuple(int(d) for d in detail["shape"])
    if arr.ndim != len(want) or tuple(arr.shape[1:]) != want[1:]:
        per = ", ".join(str(d) for d in want[1:])
        takes = f"(N, {per})" if want else "a scalar"
        raise BadRequest(f"input {label!r} has shape {tuple(arr.shape)}, the model takes {takes}")
    return arr


def _numbers(value: Any, dtype: np.dtype, label: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"input {label!r} is not a rectangular array ({exc})") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        bad = _first_leaf(value, lambda v: not isinstance(v, (bool, int, float)))
        if bad is None:
            raise BadRequest(f"input {label!r} is not a rectangular array of numbers")
        raise BadRequest(f"input {label!r} takes {dtype} numbers; JSON Value: {_excerpt(bad)}")
    if (arr.dtype.kind == "b") != (dtype.kind == "b"):
        want = "true/false" if dtype.kind == "b" else f"{dtype} numbers"
        raise BadRequest(f"input {label!r} takes {want}, got {arr.dtype.name} values")
    if dtype.kind == "f":
        _check_lossless(arr, dtype, label)
    elif dtype.kind in "iu":
        if arr.dtype.kind == "f" and not np.all(np.equal(np.mod(arr, 1), 0)):
            raise BadRequest(f"input {label!r} takes {dtype} integers, got fractions")
        info = np.iinfo(dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise BadRequest(f"input {label!r} values must lie in [{info.min}, {info.max}]")
    return arr.astype(dtype)


def _check_lossless(arr: np.ndarray, dtype: np.dtype, label: str) -> None:
    """TF Serving refuses a number the float type cannot hold (IsLosslessDecimal)."""
    if not arr.size or dtype.itemsize >= 8:
        return
    info = np.finfo(dtype)
    if arr.dtype.kind in "iu":
        limit = 2 ** (info.nmant + 1)
        big = np.abs(arr.astype(np.float64)) > limit
    else:
        finite = np.isfinite(arr)
        big = finite & (np.abs(np.where(finite, arr, 0)) > float(info.max))
    if big.any():
        raise BadRequest(
            f"Cannot convert JSON value: {arr[big].flat[0]!r} of input {label!r} to "
            f"{dtype} without loss of precision"
        )


def _first_leaf(value: Any, bad: Callable[[Any], bool]) -> Any:
    """Returns the first non-list leaf of `value` for which `bad` holds, or None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif bad(item):
            return item
    return None


def _strings(value: Any, label: str) -> np.ndarray:
    """Returns a nested list of strings / {"b64"} as an object array of bytes (checked
    to be rectangular, as TF Serving's FillTensorProto checks it)."""
    shape: List[int] = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        probe = probe[0] if probe else None
    flat: List[bytes] = []

    def walk(item: Any, level: int) -> None:
        if isinstance(item, list):
            if level >= len(shape) or len(item) != shape[level]:
                raise BadRequest(f"input {label!r} is not a rectangular array")
            for part in item:
                walk(part, level + 1)
            return
        if level != len(shape):
            raise BadRequest(f"input {label!r} is not a rectangular array")
        flat.append(_string_value(item, label))

    walk(value, 0)
    arr = np.empty(len(flat), dtype=object)
    arr[:] = flat
    return arr.reshape(shape)


def _string_value(item: Any, label: str) -> bytes:
    if isinstance(item, str):
        return item.encode("utf-8")
    if _is_b64(item):
        try:
            return base64.b64decode(item["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"input {label!r}: unable to base64 decode {_excerpt(item)}") from None
    raise BadRequest(
        f'input {label!r} takes strings (or {{"b64": ...}} for bytes), got {_excerpt(item)}'
    )


# ---- running ----


def run_predict(
    model: LoadedModel, body: Any, on_invoke: Optional[Callable[[float], None]] = None
) -> Tuple[Dict[str, Any], int]:
    """Runs a parsed JSON request; returns (TF Serving's answer, the examples it held).

    Raises BadRequest. `on_invoke(seconds)` is told the time of each interpreter
    invoke (the server's invoke latency histogram)."""
    request = parse_request(model, body)
    signature = request.signature
    tensors = {
        name: to_tensor(request.values[name], detail, name)
        for name, detail in signature.inputs.items()
    }
    chunks, n = _chunks(signature, tensors)
    parts: Dict[str, List[np.ndarray]] = {name: [] for name in signature.outputs}
    with model.lock:  # interpreters are not thread-safe
        for chunk in chunks:
            for name, value in signature.run(model.interpreter, chunk, on_invoke).items():
                parts[name].append(value)
    outputs = {name: _merge(values) for name, values in parts.items()}
    if request.columnar:
        return {"outputs": _columnar_answer(outputs)}, n
    return {"predictions": _row_answer(outputs, n)}, n


def _chunks(
    signature: Signature, tensors: Dict[str, np.ndarray]
) -> Tuple[List[Dict[str, np.ndarray]], int]:
    """Splits the batch into invokes the model's shapes take; returns (chunks, examples).

    A batch that fits the model is one invoke; a model with a batch of 1 takes any
    batch, one example per invoke (the way a device runs it)."""
    if any(t.ndim == 0 for t in tensors.values()):
        return [tensors], 1
    sizes = {t.shape[0] for t in tensors.values()}
    if len(sizes) != 1:
        raise BadRequest("all inputs must have the same batch size (0-th dimension)")
    n = sizes.pop()
    model_batch = int(next(iter(signature.inputs.values()))["shape"][0])
    if n == model_batch:
        return [tensors], n
    if model_batch == 1:
        return [{k: t[i : i + 1] for k, t in tensors.items()} for i in range(n)], n
    raise BadRequest(f"a batch of {n} does not fit the model's batch size {model_batch}")


def _merge(values: List[np.ndarray]) -> np.ndarray:
    if len(values) == 1:
        return values[0]
    if values[0].ndim == 0:
        return np.stack(values)
    return np.concatenate(values, axis=0)


def _row_answer(outputs: Dict[str, np.ndarray], n: int) -> List[Any]:
    for name, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != n:
            raise BadRequest(
                f"output {name!r} has shape {tuple(value.shape)}, not a batch of {n}: "
                'ask in the columnar format ({"inputs": ...})'
            )
    columns = {name: to_json(value, name) for name, value in outputs.items()}
    if len(columns) == 1:
        return next(iter(columns.values()))
    return [{name: column[i] for name, column in columns.items()} for i in range(n)]


def _columnar_answer(outputs: Dict[str, np.ndarray]) -> Any:
    columns = {name: to_json(value, name) for name, value in outputs.items()}
    return next(iter(columns.values())) if len(columns) == 1 else columns


# ---- tensors → JSON values ----


def to_json(value: np.ndarray, name: str = "") -> Any:
    """Returns a tensor as JSON values (see the module docstring for floats and strings)."""
    kind = value.dtype.kind
    if kind == "f":
        return _floats(value)
    if kind in "SOU":
        as_b64 = name.endswith("_bytes")
        flat = np.empty(value.size, dtype=object)
        flat[:] = [_string_json(v, as_b64) for v in value.reshape(-1).tolist()]
        return flat.reshape(value.shape).tolist()
    return value.tolist()


def _floats(value: np.ndarray) -> Any:
    flat = value.reshape(-1)
    if value.dtype.itemsize < 8:
        # The shortest decimal that reads back as the same float32 (or float16), parsed as
        # a Python float: json then writes 0.1 where the float64 of it would be 0.10000000149.
        out = np.empty(flat.shape, dtype=np.float64)
        for i in range(0, flat.size, SHORTEST_CHUNK):
            out[i : i + SHORTEST_CHUNK] = (
                flat[i : i + SHORTEST_CHUNK].astype(str).astype(np.float64)
            )
    else:
        out = flat.astype(np.float64)
    finite = np.isfinite(out)
    if finite.all():
        return out.reshape(value.shape).tolist()
    boxed = out.astype(object)
    boxed[~finite] = None
    return boxed.reshape(value.shape).tolist()


def _string_json(item: Any, as_b64: bool) -> Any:
    data = item if isinstance(item, bytes) else str(item).encode("utf-8")
    if not as_b64:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # not text: base64 keeps the bytes
    return {"b64": base64.b64encode(data).decode("ascii")}
