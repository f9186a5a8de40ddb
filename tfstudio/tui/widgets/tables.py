"""Helpers for the DataTables the screens fill from core values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from textual.widgets import DataTable


def fill(table: DataTable[Any], rows: Iterable[tuple[str, Sequence[Any]]]) -> None:
    """Replaces the table's rows with `(key, cells)` pairs, keeping the cursor row.

    Columns are re-added too, so their widths fit the new rows, not the old ones.
    """
    cursor = table.cursor_row
    labels = [column.label for column in table.columns.values()]
    table.clear(columns=True)
    table.add_columns(*labels)
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if table.row_count:
        table.move_cursor(row=min(cursor, table.row_count - 1))


def selected_key(table: DataTable[Any]) -> str | None:
    """Returns the key of the row under the cursor, or None for an empty table."""
    if not table.row_count:
        return None
    key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    return str(key.value) if key.value is not None else None
