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
    whole: Sequence[str] = (),
) -> None:
    """Prints a table to `file` (default stdout): rich on a terminal, else `render_table`.

    The columns named in `whole` (a fingerprint the user compares) are never cut or
    dropped: on a narrow terminal their values fold onto a second line."""
    out = file or sys.stdout
    if not is_terminal(out):
        if title:
            print(title, file=out)
        print(render_table(headers, rows), file=out)
        return
    from rich.console import Console

    console = Console(file=out, highlight=False)
    table, hidden = _fitted(console, headers, rows, title, whole)
    console.print(table)
    if hidden:
        note = f"({', '.join(hidden)} hidden: widen the terminal, or use --json)"
        console.print(note, style="dim", overflow="ellipsis", no_wrap=True)


MIN_TEXT = 16
"""Narrowest a text column gets (with an ellipsis) before columns are dropped instead."""


def _fitted(
    console: Any,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    title: str | None,
    whole: Sequence[str] = (),
) -> tuple[Any, list[str]]:
    """Returns (a rich Table that fits the console's width, the headers left out).

    As `docker ps` does: a value never wraps onto a second line. Long text
    columns shrink first (down to MIN_TEXT, ending in an ellipsis), widest first;
    numbers never shrink; then columns are dropped from the right, never the first.
    """
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = _numeric_columns(len(headers), rows)
    kept_whole = [h in whole for h in headers]
    natural = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    keep = list(range(len(headers)))

    def excess(widths: list[int]) -> int:
        # Three columns between two columns (padding, rule, padding), none at the edges.
        return sum(widths[i] for i in keep) + 3 * (len(keep) - 1) - console.width

    while True:
        widths = list(natural)
        while excess(widths) > 0:
            shrinkable = [
                i for i in keep if not numeric[i] and not kept_whole[i] and widths[i] > MIN_TEXT
            ]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i])
            widths[widest] = max(MIN_TEXT, widths[widest] - excess(widths))
        droppable = [i for i in keep[1:] if not kept_whole[i]]
        if excess(widths) <= 0 or not droppable:
            break
        # still too wide: the last column goes, and the others get their room
        keep.remove(droppable[-1])
    hidden = [headers[i] for i in range(len(headers)) if i not in keep]
    return _table(headers, cells, numeric, keep, widths, title, kept_whole), hidden


def _table(
    headers: Sequence[str],
    cells: Sequence[Sequence[str]],
    numeric: Sequence[bool],
    keep: Sequence[int],
    limits: Sequence[int],
    title: str | None,
    whole: Sequence[bool],
) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, show_edge=False
    )
    for i in keep:
        if whole[i]:
            table.add_column(headers[i], no_wrap=False, overflow="fold")
            continue
        table.add_column(
            headers[i],
            justify="right" if numeric[i] else "left",
            no_wrap=True,
            overflow="ellipsis",
            min_width=limits[i],
            max_width=limits[i],
        )
    for row in cells:
        table.add_row(*(Text(row[i]) for i in keep))  # values are never markup
    return table


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
