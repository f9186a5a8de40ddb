"""The report's renderings: a terminal table, CSV and Markdown (JSON is `Report.to_json`).

Unmeasured cells are marked, never dropped: '-' and 'not measured' in the
table, '—' and '*not measured*' in Markdown, empty fields and `measured=no`
in CSV.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from tfstudio.measure.report import COLUMNS, Report

SHOWN = (
    ("variant", "variant"),
    ("device", "device"),
    ("size", "size_bytes"),
    ("host_acc", "host_accuracy"),
    ("dev_acc", "device_accuracy"),
    ("p50_ms", "p50_ms"),
    ("p99_ms", "p99_ms"),
    ("init_ms", "init_ms"),
    ("first_ms", "first_invoke_ms"),
    ("rss_mb", "rss_peak_mb"),
    ("thr", "threads"),
    ("runtime", "runtime"),
    ("measured", "measured_at"),
)
"""(header, column) of the terminal table and the Markdown table."""


def _text(key: str, value: Any, row: dict[str, Any]) -> str:
    if key == "measured_at":
        if row["measured"] == "no":
            return "not measured"
        return str(value or "")[:16].replace("T", " ")
    if value is None:
        return ""
    if key in ("host_accuracy", "device_accuracy"):
        mark = " (drift)" if key == "device_accuracy" and row.get("drift") else ""
        return f"{value:.4f}{mark}"
    if key == "size_bytes":
        return f"{value / 1024:.1f}K"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def table_rows(report: Report) -> tuple[list[str], list[list[Any]]]:
    """Returns (headers, rows) for `cli.output.render_table`."""
    rows = []
    for row in report.rows():
        rows.append([_text(key, row[key], row) or None for _, key in SHOWN])
    return [header for header, _ in SHOWN], rows


def to_markdown(report: Report) -> str:
    """Returns a GitHub-flavoured Markdown table of the matrix."""
    headers = [header for header, _ in SHOWN]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in report.rows():
        cells = []
        for _, key in SHOWN:
            text = _text(key, row[key], row) or "—"
            cells.append("*not measured*" if text == "not measured" else text.replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(report: Report) -> str:
    """Returns the matrix as CSV with every column (empty fields where unmeasured)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in report.rows():
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()
