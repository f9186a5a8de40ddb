"""The deploy log: one JSON line per device per deploy, in TFSTUDIO_HOME.

Each line carries the model's sha256, the device, the time, the result and a
bench summary, and links the model's convert manifest (`<model>.json` beside
it) by path and sha256, so a model on a device can be traced back to the
SavedModel it was converted from.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tfstudio.config import studio_home
from tfstudio.errors import OutputError

LOG_NAME = "deploys.jsonl"


def log_path() -> Path:
    """Returns the deploy log's path."""
    return studio_home() / LOG_NAME


def find_manifest(model: Path) -> Path | None:
    """Returns the convert manifest beside `model` (`x.json` or `x.tflite.json`), if any."""
    for candidate in (model.with_suffix(".json"), model.with_name(model.name + ".json")):
        if candidate.is_file():
            return candidate
    return None


def provenance(model: Path) -> dict[str, Any] | None:
    """Returns `{manifest, manifest_sha256, source}` for the model's manifest, or None."""
    manifest = find_manifest(model)
    if manifest is None:
        return None
    data = manifest.read_bytes()
    out: dict[str, Any] = {
        "manifest": str(manifest.resolve()),
        "manifest_sha256": hashlib.sha256(data).hexdigest(),
    }
    try:
        parsed = json.loads(data)
    except ValueError:
        return out
    if isinstance(parsed, dict):
        for key in ("source", "source_sha256", "mode", "output_sha256", "sha256"):
            if key in parsed:
                out[key] = parsed[key]
    return out


def bench_summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """Returns the few numbers of an agent bench report worth keeping in the log."""
    if not report:
        return None
    keys = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "init_ms", "first_invoke_ms", "runs")
    return {k: report.get(k) for k in keys if k in report}


def append(entry: dict[str, Any]) -> None:
    """Appends one entry (with a UTC `time` added) as a JSON line, under a lock.

    Raises OutputError when the log cannot be written.
    """
    record = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), **entry}
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    path = log_path()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line)
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError as exc:
        raise OutputError(f"cannot write the deploy log {path}: {exc.strerror}") from exc


def read(device: str | None = None) -> list[dict[str, Any]]:
    """Returns the log's entries (only `device`'s when given), oldest first."""
    path = log_path()
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash is skipped, not fatal
        if device is None or entry.get("device") == device:
            entries.append(entry)
    return entries
