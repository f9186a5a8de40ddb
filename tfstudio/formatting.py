"""How numbers read in every front end: bytes, milliseconds, percentages, rates, ages."""

from __future__ import annotations

import time
from typing import Any


def human_bytes(n: float) -> str:
    """Returns `n` bytes as B, KiB, MiB or GiB with one decimal."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def ms(value: Any, digits: int = 3) -> str:
    """Returns a latency in ms with `digits` decimals, or '-' when unknown."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return f"{value:.{digits}f}"
    return "-"


def percent(value: Any) -> str:
    """Returns a fraction as a percentage with one decimal, or '-' when unknown."""
    return "-" if value is None else f"{100 * float(value):.1f}%"


def ratio(value: float | None) -> str:
    """Returns a size ratio as `0.29x`, or '-' when unknown."""
    return "-" if value is None else f"{value:.2f}x"


def online(reachable: bool | None) -> str:
    """Returns 'yes', 'no' or '?' (never checked) for a device's reachability."""
    return "?" if reachable is None else ("yes" if reachable else "no")


def ago(ns: int | None, now_ns: int | None = None) -> str:
    """Returns how long ago `ns` (nanoseconds since the epoch) was, e.g. '42s', '5m', '3h',
    '2d' ('-' for None)."""
    if ns is None:
        return "-"
    seconds = max(0, ((now_ns or time.time_ns()) - ns) // 1_000_000_000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
