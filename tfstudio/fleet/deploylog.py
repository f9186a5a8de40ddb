"""The deploy log: one JSON line per device per deploy, in TFSTUDIO_HOME.

Each line carries the model's sha256, the device, the time, the result, a bench
summary and the rollout and wave it was part of (if any), and links the model's
convert manifest (`<model>.json` beside it) by path and sha256, so a model on a
device can be traced back to the SavedModel it was converted from. A deploy that
activated the model also appends a `deploy` step to that manifest's `chain`, as
the convert manifest expects of later stages. Lines with a `kind` are other
records kept in the same log: a staged rollout's events (`kind: rollout`, see
`tfstudio.deploy.rolloutlog`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tfstudio.atomic import file_lock, write_text_atomic
from tfstudio.config import studio_home

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


_MANIFEST_LOCK = threading.Lock()
"""Fan-out workers append to the same manifest; the flock covers other processes."""


def _lock_path(manifest: Path) -> Path:
    """The lock of a manifest: in TFSTUDIO_HOME/locks, never beside the models (an empty
    `.lock` file in a model folder is litter that every listing shows)."""
    folder = studio_home() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(manifest.resolve()).encode()).hexdigest()[:16]
    return folder / f"manifest-{key}.lock"


def append_manifest_step(model: Path, sha256: str, step: dict[str, Any]) -> bool:
    """Appends `step` (with `step: deploy` and a time) to the chain of the model's manifest.

    Returns False (and writes nothing) when there is no manifest, it is not
    JSON, or it describes another model (a stale manifest must not gain steps).
    """
    manifest = find_manifest(model)
    if manifest is None:
        return False
    with _MANIFEST_LOCK, file_lock(_lock_path(manifest)):
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        described = (data.get("model") or {}).get("sha256") if isinstance(data, dict) else None
        if described != sha256:
            return False
        chain = data.setdefault("chain", [])
        chain.append(
            {
                "step": "deploy",
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                **step,
            }
        )
        write_text_atomic(manifest, json.dumps(data, indent=2) + "\n")
    return True


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
    append_line(entry)


def append_line(entry: dict[str, Any]) -> dict[str, Any]:
    """Appends one entry like `append` and returns the line as written (with its time)."""
    from tfstudio.history import append_jsonl

    return append_jsonl(log_path(), entry)


ROLLOUT_KIND = "rollout"
"""The `kind` of the lines that record rollouts (see `tfstudio.deploy.rolloutlog`)."""


def read(device: str | None = None) -> list[dict[str, Any]]:
    """Returns the log's per-device entries (only `device`'s when given), oldest first;
    a line cut by a crash is skipped, not fatal. Rollout records are left out (`read_kind`)."""
    from tfstudio.history import read_jsonl

    return [
        e
        for e in read_jsonl(log_path())
        if e.get("kind") is None and (device is None or e.get("device") == device)
    ]


def read_kind(kind: str) -> list[dict[str, Any]]:
    """Returns the log's lines of `kind` (e.g. the rollout records), oldest first."""
    from tfstudio.history import read_jsonl

    return [e for e in read_jsonl(log_path()) if e.get("kind") == kind]
