"""The lineage join under every capability: which training job exported a model, by content.

A job's provenance record is `TFSTUDIO_HOME/jobs/<id>/provenance.json`, written by
`tfstudio.training.provenance`. Its `chain` holds one `train` step per exported model,
whose `output_sha256` is convert's hash of that model (`tfstudio.models.source`). Reading
the join needs neither docker nor the training core, so the conversion (which copies the
step into each variant's manifest) and the watch pipeline ask here, and the training core
reads its records through the same files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tfstudio.config import studio_home

JOBS_DIR = "jobs"
"""Under TFSTUDIO_HOME: one folder per job."""
RECORD = "provenance.json"
"""In a job's folder: its provenance record."""


def record_files() -> list[Path]:
    """Returns every stored job record's path (sorted by job id)."""
    root = studio_home() / JOBS_DIR
    return sorted(root.glob(f"*/{RECORD}")) if root.is_dir() else []


def train_steps(source_sha256: str) -> list[dict[str, Any]]:
    """Returns `[step]`: the `train` step of the newest job that exported a model with this
    content hash, or [] (an unreadable record is no lineage, not an error)."""
    newest: tuple[int, dict[str, Any]] | None = None
    for path in record_files():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict):
            continue
        started = int(record.get("started_ns") or 0)
        for step in record.get("chain") or []:
            if (
                isinstance(step, dict)
                and step.get("step") == "train"
                and step.get("output_sha256") == source_sha256
                and (newest is None or started > newest[0])
            ):
                newest = (started, dict(step))
    return [newest[1]] if newest else []
