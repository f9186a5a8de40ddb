"""What the store records about a model: its flatbuffer facts, its manifest and its name."""

from __future__ import annotations

import mmap
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, Optional

from edge_agent.errors import AgentError
from edge_agent.fsutil import utc_now
from edge_agent.tflite_schema import ModelFacts, ModelFormatError, read_model_facts


def file_facts(path: Path, sha256: str) -> ModelFacts:
    """Returns the flatbuffer facts of the model file at `path`, whose digest is `sha256`.

    The file is memory-mapped: only the pages the parser visits (the tables,
    never the weights) are read. Raises AgentError (truncated, not_tflite).
    """
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return model_facts(b"", path, sha256)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return model_facts(mapped, path, sha256)


def model_facts(data: Any, source: Path, sha256: Optional[str] = None) -> ModelFacts:
    """Returns the flatbuffer facts of `data` (bytes or a buffer).

    Raises AgentError (truncated, not_tflite).
    """
    if len(data) == 0:
        raise AgentError(f"{source.name} is empty", "truncated", hint="push the file again")
    try:
        return read_model_facts(data, sha256)
    except ModelFormatError as exc:
        if "TFL3" in str(exc):
            raise AgentError(
                f"{source.name} is not a TFLite model: {exc}",
                "not_tflite",
                hint="convert the model to .tflite first (tfstudio convert)",
            ) from None
        raise AgentError(
            f"{source.name} is truncated or corrupt: {exc}",
            "truncated",
            hint="the upload was incomplete; push it again",
        ) from None


def new_manifest(
    sha: str,
    name: str,
    facts: ModelFacts,
    validation: Optional[Dict[str, Any]],
    source: Path,
) -> Dict[str, Any]:
    """Returns the manifest stored beside a model."""
    return {
        "sha256": sha,
        "name": name,
        "size_bytes": facts.size_bytes,
        "installed_at": utc_now(),
        "min_runtime_version": facts.min_runtime_version,
        "schema_version": facts.schema_version,
        "ops": [asdict(op) for op in facts.ops],
        "inputs": [asdict(t) for t in facts.inputs],
        "outputs": [asdict(t) for t in facts.outputs],
        "validation": validation,
        "source_file": source.name,
    }


def clean_name(name: Optional[str]) -> Optional[str]:
    """Returns a display name fit for one line (names never become paths)."""
    if name is None:
        return None
    cleaned = "".join(ch for ch in name if ch.isprintable()).strip()[:120]
    return cleaned or None


def default_name(source: Path, sha: str) -> str:
    """Returns the name of a model installed without --name: its file's stem."""
    stem = source.name.split(".")[0]
    return f"model-{sha[:8]}" if stem == sha or not stem else stem
