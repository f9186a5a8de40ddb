"""The studio's measurement logs: one JSON line per bench and per eval, in TFSTUDIO_HOME.

`bench.jsonl` and `evals.jsonl` (the same `<kind>.jsonl` layout the UI's
history uses) are appended under a lock and read back by `report`; a line
cut by a crash is skipped. Each bench line keeps how it was measured
(`method`: runs, warmup, threads, inputs) and, for a thread sweep, the
sweep's id and whether it was the fastest.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tfstudio.config import studio_home
from tfstudio.errors import OutputError

BENCH = "bench"
EVALS = "evals"

LATENCY_KEYS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "init_ms", "first_invoke_ms")


def log_path(kind: str) -> Path:
    """Returns the file that holds entries of `kind` (BENCH or EVALS)."""
    return studio_home() / f"{kind}.jsonl"


def now_iso() -> str:
    """Returns the current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def append(kind: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Appends `entry` (with `time` added when absent) as one line; returns it.

    Raises OutputError when the log cannot be written.
    """
    record = {"time": now_iso(), **entry}
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    path = log_path(kind)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line)
            handle.flush()
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from exc
    return record


def read(kind: str) -> list[dict[str, Any]]:
    """Returns the entries of `kind`, oldest first."""
    path = log_path(kind)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror}") from exc
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def runtime_text(report: dict[str, Any]) -> str | None:
    """Returns 'name version' of an agent report's runtime."""
    runtime = report.get("runtime") or {}
    text = f"{runtime.get('name', '')} {runtime.get('version', '')}".strip()
    return text or None


def bench_entry(
    device: str,
    report: dict[str, Any],
    *,
    label: str | None = None,
    sweep: str | None = None,
    size_bytes: int | None = None,
) -> dict[str, Any]:
    """Returns the log line of one agent bench report (`sweep`: the id of its thread sweep;
    `label` and `size_bytes`: the model file's name and size, when the studio has it)."""
    model = report.get("model") or {}
    runtime = report.get("runtime") or {}
    return {
        "device": device,
        "model": label or model.get("name"),
        "sha256": model.get("sha256"),
        "size_bytes": size_bytes,
        "runtime": runtime_text(report),
        "runtime_name": runtime.get("name"),
        "runtime_version": runtime.get("version"),
        "rss_peak_mb": report.get("rss_peak_mb"),
        "runs": report.get("runs"),
        "threads": report.get("threads"),
        "input_kind": report.get("input_kind"),
        "method": report.get("method"),
        "sweep": sweep,
        "fastest": report.get("fastest"),
        "measured_at": report.get("timestamp"),
        **{k: report.get(k) for k in LATENCY_KEYS},
    }
