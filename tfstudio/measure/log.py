"""The studio's measurement logs: one JSON line per bench and per eval, in TFSTUDIO_HOME.

`bench.jsonl` and `evals.jsonl` (the same `<kind>.jsonl` layout the UI's
history uses) are appended under a lock and read back by `report`; a line
cut by a crash is skipped. Each bench line keeps how it was measured
(`method`: runs, warmup, threads, inputs) and, for a thread sweep, the
sweep's id and whether it was the fastest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfstudio import history

BENCH = "bench"
EVALS = "evals"

LATENCY_KEYS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "init_ms", "first_invoke_ms")


def log_path(kind: str) -> Path:
    """Returns the file that holds entries of `kind` (BENCH or EVALS)."""
    return history.log_path(kind)


def now_iso() -> str:
    """Returns the current UTC time, ISO 8601 with seconds."""
    return history.now_iso()


def append(kind: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Appends `entry` (with `time` added when absent) as one line; returns it.

    Raises OutputError when the log cannot be written.
    """
    return history.append_jsonl(log_path(kind), entry)


def read(kind: str) -> list[dict[str, Any]]:
    """Returns the entries of `kind`, oldest first. Raises OutputError when unreadable."""
    return history.read_jsonl(log_path(kind))


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
