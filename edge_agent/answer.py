"""Tensors → TF Serving's JSON answer, written as bytes a block of rows at a time.

The text is exactly `json.dumps(answer) + "\\n"` of the whole answer
(`{"predictions": ...}` or `{"outputs": ...}`), but it is built from blocks of
at most `BLOCK_VALUES` values: Python lists of a million outputs would hold
40 bytes per value, where the text holds about 12.

Floats are written as their shortest decimal (0.1, not 0.10000000149011612), as
TF Serving writes them; non-finite ones as null, since JSON has no NaN (TF
Serving writes the non-JSON token NaN there). Strings are written as text, or
`{"b64": ...}` for an output whose name ends in `_bytes` (TF Serving's rule)
and for bytes that are not UTF-8.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, List

import numpy as np

BLOCK_VALUES = 1 << 14
"""Values turned into JSON at a time: bounds the Python objects of one block."""

BYTES_PER_BLOCK_VALUE = 96
"""What one value of a block costs while it is written: its Python float or int, its
place in a list, its text."""

_PER_VALUE = {"f": 26, "i": 22, "u": 22, "b": 7}
"""The longest text of one value and its separator, by dtype kind (float64's repr is
at most 24 characters)."""


class ShapeError(Exception):
    """The outputs cannot be written in the format asked for (message for a 400)."""


def encode(outputs: Dict[str, np.ndarray], columnar: bool, n: int) -> List[bytes]:
    """Returns the answer's text as chunks. Raises ShapeError when an output is not a batch
    of `n` in the row format."""
    if columnar:
        if len(outputs) == 1:
            ((name, value),) = outputs.items()
            return [b'{"outputs": ', *_value(value, name), b"}\n"]
        parts: List[bytes] = [b'{"outputs": {']
        for i, (name, value) in enumerate(outputs.items()):
            parts.append((", " if i else "").encode() + json.dumps(name).encode() + b": ")
            parts.extend(_value(value, name))
        return [*parts, b"}}\n"]
    for name, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != n:
            raise ShapeError(
                f"output {name!r} has shape {tuple(value.shape)}, not a batch of {n}: "
                'ask in the columnar format ({"inputs": ...})'
            )
    if len(outputs) == 1:
        ((name, value),) = outputs.items()
        return [b'{"predictions": ', *_value(value, name), b"}\n"]
    step = _rows_per_block(outputs)
    parts = [b'{"predictions": [']
    for start in range(0, n, step):
        columns = {
            name: to_json(value[start : start + step], name) for name, value in outputs.items()
        }
        rows = [
            {name: column[i] for name, column in columns.items()}
            for i in range(len(next(iter(columns.values()))))
        ]
        parts.append(_joined(rows, start))
    return [*parts, b"]}\n"]


def _value(value: np.ndarray, name: str) -> List[bytes]:
    """One output's JSON value as chunks (a block of its first axis at a time; a row too
    big for one block is written a part of it at a time)."""
    if value.ndim == 0:
        return [_dumps(to_json(value, name)).encode()]
    parts = [b"["]
    if value.ndim > 1 and int(np.prod(value.shape[1:], dtype=np.int64)) > BLOCK_VALUES:
        for i in range(value.shape[0]):
            parts.append(b", " if i else b"")
            parts.extend(_value(value[i], name))
        return [*parts, b"]"]
    step = _rows_per_block({name: value})
    for start in range(0, value.shape[0], step):
        parts.append(_joined(to_json(value[start : start + step], name), start))
    return [*parts, b"]"]


def _joined(items: List[Any], start: int) -> bytes:
    """A block's items as they stand inside the whole list: `a, b` (after `, ` when it is
    not the first block)."""
    text = _dumps(items)[1:-1]
    return ((", " if start and text else "") + text).encode()


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


def _rows_per_block(outputs: Dict[str, np.ndarray]) -> int:
    per_row = sum(int(np.prod(v.shape[1:], dtype=np.int64)) for v in outputs.values())
    return max(1, BLOCK_VALUES // max(1, per_row))


def memory_bound(outputs: Dict[str, np.ndarray]) -> int:
    """Returns an upper bound of what `encode` holds: the answer's text and one block."""
    per_row = sum(int(np.prod(v.shape[1:], dtype=np.int64)) for v in outputs.values())
    values = sum(v.size for v in outputs.values())
    block = min(values, max(BLOCK_VALUES, per_row))
    return _text_bound(outputs) + BYTES_PER_BLOCK_VALUE * block


def _text_bound(outputs: Dict[str, np.ndarray]) -> int:
    total = 64
    for name, value in outputs.items():
        rows = value.shape[0] if value.ndim else 1
        total += rows * (len(name) + 16) + value.size * 2  # keys of row objects, brackets
        kind = value.dtype.kind
        if kind in _PER_VALUE:
            total += value.size * _PER_VALUE[kind]
        else:  # strings: base64 at worst, JSON escapes at most 6 bytes per byte
            total += sum(16 + 6 * len(_bytes_of(v)) for v in value.reshape(-1).tolist())
    return total


def _bytes_of(item: Any) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode("utf-8")


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
        out = flat.astype(str).astype(np.float64)
    else:
        out = flat.astype(np.float64)
    finite = np.isfinite(out)
    if finite.all():
        return out.reshape(value.shape).tolist()
    boxed = out.astype(object)
    boxed[~finite] = None
    return boxed.reshape(value.shape).tolist()


def _string_json(item: Any, as_b64: bool) -> Any:
    data = _bytes_of(item)
    if not as_b64:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # not text: base64 keeps the bytes
    return {"b64": base64.b64encode(data).decode("ascii")}
