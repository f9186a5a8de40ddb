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
(the value, or an object of named outputs); `answer` writes them.

Every malformed request raises `BadRequest` (400), and so does an input that is
not finite (JSON's NaN and Infinity, which Python's json reads, or a number past
float64): a model fed NaN answers NaN, which reads as a prediction. Bodies nested
deeper than any tensor needs are refused before they are decoded. Memory: see
`predict()`; a plain numeric body takes the lean path of `fastbody`.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from edge_agent import answer, fastbody
from edge_agent.jsonscan import json_depth, scan_bytes
from edge_agent.membudget import Reservation, Unlimited
from edge_agent.signatures import DEFAULT_KEY, Signature, default_key

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects a request may have: a tensor has a few
dimensions, so anything deeper is an attack on the decoder, not a request."""


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
    return check_numbers(arr, dtype, label, arr.dtype.kind in "iu")


def check_numbers(arr: np.ndarray, dtype: np.dtype, label: str, all_int: bool) -> np.ndarray:
    """Returns `arr` (numbers as JSON gave them) in `dtype`. Raises BadRequest for a
    non-finite value (JSON's NaN/Infinity, or a number past float64), a number the type
    cannot hold, or a fraction for an integer input. `all_int`: every JSON value was
    written as an integer (TF Serving checks integers and decimals differently)."""
    if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        value = float(arr[where])
        shown = "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        raise BadRequest(
            f"input {label!r} holds {shown} at {list(where)}: a model input must be finite "
            "numbers (NaN, Infinity and numbers past 1.8e308 are refused)"
        )
    if dtype.kind == "f":
        _check_lossless(arr, dtype, label, all_int)
    elif dtype.kind in "iu":
        if not all_int and not np.all(np.equal(np.mod(arr, 1), 0)):
            raise BadRequest(f"input {label!r} takes {dtype} integers, got fractions")
        info = np.iinfo(dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise BadRequest(f"input {label!r} values must lie in [{info.min}, {info.max}]")
    return arr.astype(dtype)


def _check_lossless(arr: np.ndarray, dtype: np.dtype, label: str, all_int: bool) -> None:
    """TF Serving refuses a number the float type cannot hold (IsLosslessDecimal)."""
    if not arr.size or dtype.itemsize >= 8:
        return
    info = np.finfo(dtype)
    if all_int:
        limit = 2 ** (info.nmant + 1)
        big = (arr > limit) | (arr < -limit)
    else:
        big = np.abs(arr) > float(info.max)
    if big.any():
        first = arr[big].flat[0]
        shown = int(first) if all_int else float(first)
        raise BadRequest(
            f"Cannot convert JSON value: {shown!r} of input {label!r} to "
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


class Body:
    """A request's bytes, dropped as soon as they are decoded so their memory is freed."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def drop(self) -> None:
        """Lets the bytes go (the decoder holds no other reference)."""
        self.data = b""


def predict(
    model: LoadedModel,
    body: Body,
    reservation: Reservation,
    on_invoke: Optional[Callable[[float], None]] = None,
) -> Tuple[List[bytes], int]:
    """Runs a predict request; returns (TF Serving's answer as text chunks, the examples).

    Each stage grows `reservation` to what it will hold before it allocates it (see
    `membudget`): a plain numeric body (`fastbody`) costs the body, its tensor and
    the answer; any other body up to `GENERAL_BYTES_PER_BODY_BYTE` x its size.
    Raises BadRequest, BudgetTooBig or BudgetBusy. `on_invoke(seconds)` is told the
    time of each interpreter invoke (the server's invoke latency histogram)."""
    prepared = _fast(model, body, reservation) or _general(model, body, reservation)
    signature, columnar, tensors = prepared
    del prepared
    invokes, n = _plan(signature, tensors)
    tensor_bytes = sum(t.nbytes for t in tensors.values())
    reservation.grow_to(tensor_bytes + invokes * _output_bytes(signature) + STAGE_BYTES)
    with model.lock:  # interpreters are not thread-safe; never wait for memory holding it
        if invokes == 1:
            outputs = signature.run(model.interpreter, tensors, on_invoke)
        else:
            outputs = _run_each(model, signature, tensors, n, on_invoke)
    del tensors
    held = sum(v.nbytes for v in outputs.values())
    reservation.grow_to(held + answer.memory_bound(outputs))
    try:
        return answer.encode(outputs, columnar, n), n
    except answer.ShapeError as exc:
        raise BadRequest(str(exc)) from None


GENERAL_BYTES_PER_BODY_BYTE = 24
"""What the general decoder holds per byte of body at most: `json.loads` makes a Python
object of every value (an empty list `[]` is 56 bytes for 3 bytes of text), then the
tensors are built from them (measured by scripts/bench/bench_serve_memory.py)."""

STAGE_BYTES = 4096
"""The views and dicts of one invoke, beside what each stage counts."""


def _fast(
    model: LoadedModel, body: Body, reservation: Reservation
) -> Optional[Tuple[Signature, bool, Dict[str, np.ndarray]]]:
    where = fastbody.envelope(body.data)
    if where is None:
        return None
    name = where.signature_name
    if not name or (name == DEFAULT_KEY and name not in model.signatures):
        signature = model.default_signature
    elif name in model.signatures:
        signature = model.signatures[name]
    else:
        return None  # the general decoder names the missing signature
    size = len(body.data)
    reservation.grow_to(size + scan_bytes(size))
    tensor = fastbody.fast_tensor(
        body.data,
        where,
        signature,
        check_numbers,
        lambda nbytes: reservation.grow_to(size + nbytes),
    )
    if tensor is None:
        return None
    body.drop()
    return signature, where.columnar, {next(iter(signature.inputs)): tensor}


def _general(
    model: LoadedModel, body: Body, reservation: Reservation
) -> Tuple[Signature, bool, Dict[str, np.ndarray]]:
    size = len(body.data)
    reservation.grow_to(GENERAL_BYTES_PER_BODY_BYTE * size + scan_bytes(size))
    decoded = decode_request(body.data)
    body.drop()
    request = parse_request(model, decoded)
    del decoded  # from here each input's JSON values are freed once they are a tensor
    signature = request.signature
    tensors = {
        name: to_tensor(request.values.pop(name), detail, name)
        for name, detail in signature.inputs.items()
    }
    return signature, request.columnar, tensors


def run_predict(
    model: LoadedModel, body: Any, on_invoke: Optional[Callable[[float], None]] = None
) -> Tuple[Any, int]:
    """Runs a decoded JSON request; returns (TF Serving's answer as JSON values, examples).
    For callers outside the server (no memory budget). Raises BadRequest."""
    text, n = predict(model, Body(json.dumps(body).encode()), Unlimited(), on_invoke)
    return json.loads(b"".join(text)), n


def _output_bytes(signature: Signature) -> int:
    """The outputs of one invoke, by their declared shapes (strings: 64 bytes a value)."""
    total = 0
    for detail in signature.outputs.values():
        dtype = np.dtype(detail["dtype"])
        size = int(np.prod(detail["shape"], dtype=np.int64)) if len(detail["shape"]) else 1
        total += size * (64 if dtype.kind in "SOU" else dtype.itemsize)
    return total


def _plan(signature: Signature, tensors: Dict[str, np.ndarray]) -> Tuple[int, int]:
    """Returns (invokes, examples): a batch that fits the model is one invoke; a model
    with a batch of 1 takes any batch, one example per invoke (the way a device runs it)."""
    if any(t.ndim == 0 for t in tensors.values()):
        return 1, 1
    sizes = {t.shape[0] for t in tensors.values()}
    if len(sizes) != 1:
        raise BadRequest("all inputs must have the same batch size (0-th dimension)")
    n = sizes.pop()
    model_batch = int(next(iter(signature.inputs.values()))["shape"][0])
    if n == model_batch:
        return 1, n
    if model_batch == 1:
        return n, n
    raise BadRequest(f"a batch of {n} does not fit the model's batch size {model_batch}")


def _run_each(
    model: LoadedModel,
    signature: Signature,
    tensors: Dict[str, np.ndarray],
    n: int,
    on_invoke: Optional[Callable[[float], None]],
) -> Dict[str, np.ndarray]:
    """One invoke per example, each output written into one array allocated once."""
    stacks: Dict[str, _Stack] = {}
    for i in range(n):
        one = {name: t[i : i + 1] for name, t in tensors.items()}
        for name, value in signature.run(model.interpreter, one, on_invoke).items():
            stacks.setdefault(name, _Stack(n)).put(i, value)
    return {name: stack.result() for name, stack in stacks.items()}


class _Stack:
    """The outputs of n invokes joined along the first axis (scalars stacked), as one
    array allocated at the first; outputs whose shape changes are joined at the end."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.array: Optional[np.ndarray] = None
        self.parts: Optional[List[np.ndarray]] = None

    def put(self, i: int, value: np.ndarray) -> None:
        value = value[None] if value.ndim == 0 else value
        if self.parts is not None:
            self.parts.append(value)
            return
        if self.array is None:
            self.array = np.empty((self.n * value.shape[0], *value.shape[1:]), value.dtype)
            self.step = value.shape[0]
        if value.shape[0] == self.step and value.shape[1:] == self.array.shape[1:]:
            self.array[i * self.step : (i + 1) * self.step] = value
        else:
            self.parts = [self.array[: i * self.step], value]

    def result(self) -> np.ndarray:
        if self.parts is not None:
            return np.concatenate(self.parts, axis=0)
        assert self.array is not None
        return self.array
