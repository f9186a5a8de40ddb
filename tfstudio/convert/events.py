"""Progress events that `convert` hands to its `progress` callback.

They are small frozen values, so a TUI worker can post them as messages and a
CLI can print them; the core itself never prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class ModeStarted:
    """Conversion of `mode` began; it is number `index` (1-based) of `total`."""

    mode: str
    index: int
    total: int


@dataclass(frozen=True)
class ModeFinished:
    """`mode` is written at `path`; conversion took `seconds`, the file is `size_bytes`."""

    mode: str
    index: int
    total: int
    path: str
    size_bytes: int
    seconds: float


ProgressEvent = Union[ModeStarted, ModeFinished]
"""Anything a progress callback may receive."""
