"""The lean path for the request almost every client sends: one array of plain numbers.

`{"instances": ARRAY}` or `{"inputs": ARRAY}` (and perhaps a `signature_name`)
for a signature with one numeric input, where ARRAY holds only numbers,
brackets, commas and spaces, is decoded straight into the input's tensor:
`json.loads` of the whole body would hold a Python float (32 bytes) for every
number of 2-4 bytes of text, 8-20x the body.
Here the body is split at the array's top-level commas into blocks of about
`BLOCK` bytes, each block is decoded by `json.loads` (so the grammar is JSON's,
exactly) and checked by the general decoder's own rules, and written into one
tensor allocated once. What it holds beyond the body and the tensor is one
block's worth.

Anything else (other keys, strings, `NaN`, several inputs, a ragged array, a
value the rules refuse) returns None, and the general decoder takes the body,
so every answer and every error is the general decoder's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import numpy as np

from edge_agent.jsonscan import CHUNK, STEP
from edge_agent.signatures import Signature

BLOCK = 1 << 16
"""Bytes of the array decoded at a time: its Python objects are the transient cost."""

BLOCK_BYTES_PER_BYTE = 24
"""What decoding a block holds per byte of it: its Python numbers (`1.5,` is a 32-byte
float and a pointer for 4 bytes of text) and lists, its float64 array and the checks'."""


MAX_DEPTH = 64

DTYPES = frozenset(
    ("float16", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32")
)
"""Inputs whose every value a float64 holds exactly (the checks run on float64)."""

_NAME = rb'[ \t\n\r]*"signature_name"[ \t\n\r]*:[ \t\n\r]*"([ !#-\[\]-~]{0,256})"[ \t\n\r]*'
_HEAD = re.compile(
    rb"[ \t\n\r]*\{(?:" + _NAME + rb',)?[ \t\n\r]*"(instances|inputs)"[ \t\n\r]*:[ \t\n\r]*\['
)
_TAIL = re.compile(rb"\][ \t\n\r]*(?:," + _NAME + rb")?\}[ \t\n\r]*\Z")
_TAIL_WINDOW = 512
"""Where the body's last `]` can be: its closing spaces and a signature_name after it."""
_PLAIN = b"0123456789+-.eE[], \t\n\r"
"""The bytes of a plain numeric array (JSON's own grammar is checked by json.loads)."""
_LONG_INTEGER = re.compile(rb"[0-9]{16}")


@dataclass(frozen=True)
class Envelope:
    """Where a plain body's array lies, and what the body asks for."""

    columnar: bool
    signature_name: str
    start: int
    end: int


def envelope(raw: bytes) -> Optional[Envelope]:
    """Returns where `{"instances"|"inputs": [...]}` (with at most a `signature_name`
    string without escapes, before or after) has its array, or None for any other body."""
    head = _HEAD.match(raw)
    if head is None:
        return None
    tail = _TAIL.search(raw, max(head.end(), len(raw) - _TAIL_WINDOW))
    if tail is None or (head.group(1) is not None and tail.group(1) is not None):
        return None
    name = head.group(1) if head.group(1) is not None else tail.group(1) or b""
    return Envelope(
        head.group(2) == b"inputs",
        name.decode("ascii", "replace"),
        head.end() - 1,
        tail.start() + 1,
    )


def fast_tensor(
    raw: bytes,
    where: Envelope,
    signature: Signature,
    check: Callable[[np.ndarray, np.dtype, str, bool], np.ndarray],
    reserve: Callable[[int], None],
) -> Optional[np.ndarray]:
    """Returns the tensor of the plain array at `where`, or None (the general decoder
    takes the body).

    `check(values, dtype, label, all_int)` is the general decoder's check of numbers
    (raises on a value it refuses); `reserve(nbytes)` is told what the rest will hold
    (the tensor and one block's decoding) before it is allocated, and may raise. The
    scan before it holds `scan_bytes(len(raw))`."""
    if len(signature.inputs) != 1:
        return None
    ((label, detail),) = signature.inputs.items()
    dtype = np.dtype(detail["dtype"])
    inner = tuple(int(d) for d in detail["shape"])[1:]
    if dtype.name not in DTYPES or len(detail["shape"]) < 1 or any(d < 1 for d in inner):
        return None
    start, end = where.start, where.end
    if end <= start + 1:
        return None
    scan = _scan(raw, start, end)
    if scan is None:
        return None
    examples, blocks = scan
    all_int = all(raw.find(c, start, end) < 0 for c in (b".", b"e", b"E"))
    if all_int and _LONG_INTEGER.search(raw, start, end):
        return None  # integers past float64's exact range: the general decoder's rules
    # A block is at least one example: one image can be far more than BLOCK bytes.
    largest = max(b - a for a, b in blocks)
    tensor_bytes = examples * int(np.prod(inner, dtype=np.int64)) * dtype.itemsize
    reserve(tensor_bytes + BLOCK_BYTES_PER_BYTE * (largest + 2))
    tensor = np.empty((examples, *inner), dtype=dtype)
    filled = 0
    for a, b in blocks:
        try:
            block = np.asarray(json.loads(b"[" + raw[a:b] + b"]"))
        except (ValueError, RecursionError):
            return None
        if block.dtype.kind not in "iuf" or block.shape[1:] != inner:
            return None
        if filled + block.shape[0] > examples:
            return None
        try:
            values = check(block.astype(np.float64), dtype, label, all_int)
        except Exception:  # noqa: BLE001 - refused: the general decoder says why
            return None
        tensor[filled : filled + block.shape[0]] = values
        filled += block.shape[0]
    return tensor if filled == examples else None


def _scan(raw: bytes, start: int, end: int) -> Optional[Tuple[int, List[Tuple[int, int]]]]:
    """Checks raw[start:end] is one array of plain numbers; returns (examples, blocks).

    A block is (from, to): elements between two top-level commas chosen about
    `BLOCK` bytes apart, without the commas and the outer brackets."""
    depth = 0
    commas = 0
    cuts: List[int] = []
    for a in range(start, end, CHUNK):
        b = min(a + CHUNK, end)
        if raw[a:b].translate(None, _PLAIN):
            return None  # a string, a literal such as NaN, an object: not plain
        codes = np.frombuffer(raw, dtype=np.uint8, count=b - a, offset=a)
        levels = np.cumsum(STEP[codes], dtype=np.int32) + depth
        inside = levels[:-1] if b == end else levels
        if inside.size and (int(inside.min()) < 1 or int(inside.max()) > MAX_DEPTH):
            return None  # the array closed early, or is nested deeper than any tensor
        depth = int(levels[-1])
        top = a + np.flatnonzero((codes == 44) & (levels == 1))
        commas += top.size
        if top.size:
            # The first top-level comma in each BLOCK-sized window of the array.
            _, first = np.unique((top - start) // BLOCK, return_index=True)
            cuts.extend(int(p) for p in top[first] if not cuts or p - cuts[-1] >= BLOCK // 2)
    if depth != 0:
        return None
    lows = [start + 1] + [c + 1 for c in cuts]
    highs = cuts + [end - 1]
    return commas + 1, list(zip(lows, highs))
