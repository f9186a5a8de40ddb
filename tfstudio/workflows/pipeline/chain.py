"""The provenance chain of an export: training job → SavedModel hash → variant → device.

The training link is found by content hash in the jobs' provenance records
(`tfstudio.training.provenance`). A job's record lists its exports only once
it is finalised (after the job ended), so a job whose workspace holds the
export and whose record is not final yet is finalised here first, through the
Studio's training facade; a job still running is named with its image digest
and `state: running` (after a short grace for it to end).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.errors import TfStudioError

if TYPE_CHECKING:
    from tfstudio.studio import Studio
    from tfstudio.training.provenance import Provenance

JOB_END_GRACE_S = 15.0
"""A job usually ends within seconds of its export: waiting that long for it
puts its `train` step in the variants' manifests. A job that trains on after
exporting is named with `state: running` instead."""


def training_link(studio: Studio, model: Path, sha256: str) -> dict[str, Any] | None:
    """Returns {job, image_ref, image_digest, ...} of the job that exported `model`, or None."""
    from tfstudio.models.lineage import train_steps
    from tfstudio.training.provenance import list_records

    found = train_steps(sha256)
    if found:
        return _link(found[0])
    try:
        records = list_records()
    except (OSError, TfStudioError):
        return None
    resolved = model.resolve()
    for record in records:
        workspace = Path(str(record.workspace.get("path") or "/nonexistent")).resolve()
        if record.final or not resolved.is_relative_to(workspace):
            continue
        record = _ended(studio, record)
        found = train_steps(sha256)
        if found:
            return _link(found[0])
        if not record.final:
            return {
                "job": record.job_id,
                "engine": record.engine.get("name"),
                "image_ref": record.image.get("ref"),
                "image_digest": record.image.get("digest"),
                "state": record.state,
            }
    return None


def _ended(studio: Studio, record: Provenance) -> Provenance:
    """Returns the job's record, finalised once the job ends (waiting up to the grace)."""
    deadline = time.monotonic() + JOB_END_GRACE_S
    while True:
        try:
            record = studio.training.provenance(record.job_id)
        except TfStudioError:
            return record  # engine gone: name the job as far as its launch record knows it
        if record.final or time.monotonic() >= deadline:
            return record
        time.sleep(0.5)


def _link(step: dict[str, Any]) -> dict[str, Any]:
    keys = ("job", "engine", "image_ref", "image_digest", "digest_kind", "output_path")
    return {k: step.get(k) for k in keys} | {"state": "exited", "exit_code": step.get("exit_code")}


def base_chain(
    training: dict[str, Any] | None, model: Path, sha256: str, version: str
) -> dict[str, Any]:
    """Returns the chain every event of one export carries."""
    return {
        "training": training,
        "saved_model": {"path": str(model), "sha256": sha256, "name": version},
    }


def with_variant(chain: dict[str, Any], mode: str, variant: dict[str, Any]) -> dict[str, Any]:
    """Returns `chain` extended with one variant (mode, sha256, path)."""
    return chain | {
        "variant": {"mode": mode, "sha256": variant.get("sha256"), "path": variant.get("path")}
    }


def with_device(chain: dict[str, Any], device: str, result: dict[str, Any]) -> dict[str, Any]:
    """Returns `chain` extended with one device's activation (or refusal)."""
    return chain | {
        "device": {
            "name": device,
            "status": result.get("status"),
            "active": result.get("active"),
            "activated": result.get("status") == "ok" and result.get("active") is not None,
        }
    }


def export_name(root: Path, model: Path) -> str:
    """Returns `name/version` for `exports/<name>/<version>`, else the path under root."""
    try:
        rel = model.resolve().relative_to(root.resolve())
    except ValueError:
        return model.name
    parts = rel.parts
    if len(parts) >= 3 and parts[-3] == "exports":
        return f"{parts[-2]}/{parts[-1]}"
    return rel.as_posix() or model.name
