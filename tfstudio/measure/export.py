"""Export stored bench rows as JSON and CSV, written atomically."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tfstudio.atomic import write_text_atomic
from tfstudio.errors import OutputError

COLUMNS = (
    "time", "device", "model", "sha256", "runtime", "runs", "p50_ms", "p90_ms", "p99_ms",
    "mean_ms", "init_ms", "first_invoke_ms", "rss_peak_mb",
)  # fmt: skip


def export_bench(rows: list[dict[str, Any]], folder: Path) -> tuple[Path, Path]:
    """Writes `rows` to `folder/bench-<UTC time>.json` and `.csv`; returns both paths.

    Raises OutputError when the folder cannot be created or written.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror}") from exc
    json_path = folder / f"bench-{stamp}.json"
    csv_path = folder / f"bench-{stamp}.csv"
    write_text_atomic(json_path, json.dumps(rows, indent=2, default=str) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(csv_path, buffer.getvalue())
    return json_path, csv_path
