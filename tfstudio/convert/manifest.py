"""The provenance manifest written beside each converted model (`<name>.<mode>.json`).

It records where the model came from (source path and sha256), what made it
(TensorFlow version, converter settings, data digests), when, the model's own
sha256 and the runtime it needs (computed from its ops, with what sets it).
`chain` is an ordered list of provenance steps: `convert` writes the first;
later stages (device activations) append their own entries to the same list.
When the source is the export of a tfstudio training job (its content hash is
in a job's provenance record), that job's `train` step (image digest, job)
comes first, and `training` names the job: image digest → SavedModel →
variant → device reads from one file.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tfstudio import __version__
from tfstudio.jsonsafe import json_safe

MANIFEST_FORMAT = "tfstudio.manifest/1"
"""Version tag of the manifest layout, for readers written later."""


def build_manifest(
    *,
    model_path: Path,
    model_sha256: str,
    size_bytes: int,
    mode: str,
    source: dict[str, Any],
    tensorflow_version: str,
    settings: dict[str, Any],
    rep_data: dict[str, Any] | None,
    convert_seconds: float,
    metrics: dict[str, Any] | None,
    min_runtime: dict[str, Any] | None = None,
    float_fallback_ops: dict[str, int] | None = None,
    training: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Returns the manifest of one converted model as a JSON-able dict.

    `min_runtime` is `facts.runtime_json(facts)`; its version is also the
    top-level `min_runtime_version`. `training` is `lineage.train_steps(source sha256)`.
    """
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    step = {
        "step": "convert",
        "at": now,
        "tool": f"tfstudio {__version__}",
        "tensorflow_version": tensorflow_version,
        "mode": mode,
        "settings": settings,
        "rep_data": rep_data,
        "seconds": round(convert_seconds, 3),
        "input_sha256": source["sha256"],
        "output_sha256": model_sha256,
    }
    return {
        "format": MANIFEST_FORMAT,
        "model": {"path": model_path.name, "sha256": model_sha256, "size_bytes": size_bytes},
        "mode": mode,
        "min_runtime_version": (min_runtime or {}).get("version"),
        "min_runtime": min_runtime,
        "float_fallback_ops": dict(float_fallback_ops or {}),
        "source": source,
        "tensorflow_version": tensorflow_version,
        "converter_settings": settings,
        "created_at": now,
        "metrics": metrics,
        "training": _training_summary(training[0]) if training else None,
        "chain": [*(training or []), step],
    }


def _training_summary(step: dict[str, Any]) -> dict[str, Any]:
    keys = ("job", "engine", "image_ref", "image_digest", "digest_kind", "output_path")
    return {k: step.get(k) for k in keys}


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Returns `manifest` as indented JSON (NaN and infinity become null), UTF-8."""
    text = json.dumps(json_safe(manifest), indent=2, sort_keys=False, allow_nan=False)
    return (text + "\n").encode("utf-8")
