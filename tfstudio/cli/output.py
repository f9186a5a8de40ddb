"""Printing helpers shared by the subcommands: JSON and plain-text tables."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from tfstudio.formatting import human_bytes
from tfstudio.jsonsafe import json_safe

__all__ = ["human_bytes", "print_json", "render_table"]


def print_json(obj: Any) -> None:
    """Prints `obj` as indented JSON on stdout; NaN and infinity become null."""
    json.dump(json_safe(obj), sys.stdout, indent=2, sort_keys=False, default=str, allow_nan=False)
    sys.stdout.write("\n")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Returns a left/right-aligned text table (numbers right-aligned)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    numeric = [
        all(_is_number(row[i]) for row in rows if row[i] not in (None, "")) and bool(rows)
        for i in range(len(headers))
    ]

    def fmt(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    lines = [fmt(list(headers)), fmt(["-" * w for w in widths])]
    lines.extend(fmt(row) for row in cells)
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
