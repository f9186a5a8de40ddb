"""Printing helpers shared by the subcommands: the one `--json` flag, JSON, and tables.

Every command that has a result takes `--json` (added by `add_json`, described the
same way everywhere) and prints it with `show`: one JSON document on stdout, or the
human rendering. Errors under `--json` are JSON too (see `tfstudio.cli.report_error`).

On a terminal a table is drawn by `rich` (bold header, right-aligned numbers,
fit to the width); anywhere else (a pipe, a file, a test) it is the plain,
stable text of `render_table`: a header, a dashed rule, two spaces between
columns, `-` for a missing value, so scripts can split the lines.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any, TypeVar

from tfstudio.formatting import human_bytes
from tfstudio.jsonsafe import json_safe

__all__ = [
    "add_json",
    "human_bytes",
    "is_terminal",
    "print_json",
    "print_table",
    "render_table",
    "show",
    "wants_json",
]

T = TypeVar("T")

JSON_HELP = 'print one JSON document on stdout instead of text (errors too: {"error": ...})'
"""How every command describes `--json`."""


def add_json(parser: Any) -> None:
    """Adds `--json` to a command's parser, with the one description."""
    parser.add_argument("--json", action="store_true", help=JSON_HELP)


def wants_json(args: Any) -> bool:
    """True when the command line asked for JSON."""
    return bool(getattr(args, "json", False))


def show(args: Any, result: T, human: Callable[[T], object]) -> None:
    """Prints `result` as one JSON document under `--json` (its `to_json()` when it has
    one), else calls `human(result)` to draw it for a reader."""
    if wants_json(args):
        to_json = getattr(result, "to_json", None)
        print_json(to_json() if callable(to_json) else result)
    else:
        human(result)


def print_json(obj: Any) -> None:
    """Prints `obj` as indented JSON on stdout; NaN and infinity become null."""
    json.dump(json_safe(obj), sys.stdout, indent=2, sort_keys=False, default=str, allow_nan=False)
    sys.stdout.write("\n")


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Returns True when `stream` (default stdout) is a terminal."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    file: IO[str] | None = None,
) -> None:
    """Prints a table to `file` (default stdout): rich on a terminal, else `render_table`."""
    out = file or sys.stdout
    if not is_terminal(out):
        if title:
            print(title, file=out)
        print(render_table(headers, rows), file=out)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    numeric = _numeric_columns(len(headers), rows)
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if numeric[i] else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(_cell(v)) for v in row))  # values are never markup
    console = Console(file=out, highlight=False)
    natural = console.measure(table, options=console.options.update_width(1 << 16)).maximum
    if natural > console.width:
        # Wider than the terminal: let the terminal wrap whole lines rather than
        # cut names and hashes inside their cells.
        console = Console(file=out, highlight=False, width=natural)
    console.print(table)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Returns a left/right-aligned text table (numbers right-aligned)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    numeric = _numeric_columns(len(headers), rows)

    def fmt(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    lines = [fmt(list(headers)), fmt(["-" * w for w in widths])]
    lines.extend(fmt(row) for row in cells)
    return "\n".join(lines)


def _numeric_columns(count: int, rows: Sequence[Sequence[Any]]) -> list[bool]:
    return [
        all(_is_number(row[i]) for row in rows if row[i] not in (None, "")) and bool(rows)
        for i in range(count)
    ]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
