"""Scans of a JSON text's bytes in fixed-size chunks: nesting depth, without decoding it.

Each scan holds a few arrays the size of one chunk (`CHUNK`), never of the
body: a 4 MiB request must not cost tens of MiB before it is even decoded
(a regex over strings saves state per character; numpy over the whole body
holds several arrays of its size).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

CHUNK = 1 << 16
"""Bytes scanned at a time: a scan holds about 25 bytes of arrays per byte of a chunk."""

SCAN_BYTES_PER_BYTE = 25
"""What a scan holds per byte of its chunk (int32 indexes and levels, masks)."""


def scan_bytes(size: int) -> int:
    """Returns what scanning a text of `size` bytes holds at most."""
    return SCAN_BYTES_PER_BYTE * min(CHUNK, size)


_QUOTE, _BACKSLASH = 34, 92
STEP = np.zeros(256, dtype=np.int8)
"""+1 for `[` and `{`, -1 for `]` and `}`, 0 for every other byte."""
STEP[[91, 123]] = 1
STEP[[93, 125]] = -1


def json_depth(raw: bytes) -> int:
    """Returns the deepest nesting of `[`/`{` in a JSON text (brackets in strings ignored).

    A quote is a string's edge unless an odd run of backslashes precedes it."""
    deepest = 0
    depth = 0  # carried across chunks
    in_string = False
    backslashes = 0  # the run of backslashes that ends the previous chunk
    for start in range(0, len(raw), CHUNK):
        codes = np.frombuffer(raw, dtype=np.uint8, count=min(CHUNK, len(raw) - start), offset=start)
        edges, backslashes = _string_edges(codes, backslashes)
        # Inside a string after a byte: an odd number of edges up to it (brackets are never
        # edges, so at a bracket this is whether the bracket is in a string).
        inside = (np.cumsum(edges, dtype=np.int32) + int(in_string)) % 2 == 1
        in_string = bool(inside[-1])
        steps = np.where(inside, 0, STEP[codes]).astype(np.int32)
        levels = np.cumsum(steps, dtype=np.int32) + depth
        deepest = max(deepest, int(levels.max()))
        depth = int(levels[-1])
    return max(0, deepest)


def _string_edges(codes: np.ndarray, carried: int) -> Tuple[np.ndarray, int]:
    """Returns (unescaped quotes as a bool array, the run of backslashes at the chunk's end).

    `carried` is the run of backslashes that ended the previous chunk."""
    n = codes.size
    backslash = codes == _BACKSLASH
    index = np.arange(n, dtype=np.int32)
    # For each position, the last index at or before it that is not a backslash.
    last_plain = np.maximum.accumulate(np.where(backslash, -1, index))
    quotes = np.flatnonzero(codes == _QUOTE)
    before = quotes - 1
    run = np.where(before >= 0, before - last_plain[np.maximum(before, 0)], 0)
    # A run that reaches back to the chunk's start continues the previous chunk's run.
    reaches_start = (before >= 0) & (last_plain[np.maximum(before, 0)] < 0)
    run = run + np.where(reaches_start | (before < 0), carried, 0)
    edges = np.zeros(n, dtype=bool)
    edges[quotes[run % 2 == 0]] = True
    tail = n - 1 - int(last_plain[-1])
    return edges, (carried + n if tail == n else tail)
