"""The model catalogue: converted models the studio knows about, read from disk.

A converted model is a `<name>.<mode>.tflite` with its manifest `<name>.<mode>.json`
beside it (see `tfstudio.convert.manifest`). The catalogue looks in
TFSTUDIO_HOME's `demo/` and `models/*/` folders and in every output folder a
conversion from the studio wrote to (remembered in `model_dirs.json`), so a
restart shows the same models. Reading is cheap: manifests and flatbuffer
headers, no tensorflow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.atomic import file_lock, write_text_atomic
from tfstudio.config import studio_home
from tfstudio.statefile import corrupt, read_state_json

DIRS_NAME = "model_dirs.json"
MODEL_DIRS = ("demo", "models")


@dataclass(frozen=True)
class ModelEntry:
    """One converted model: file, mode, size, min runtime, metrics, where it came from."""

    path: Path
    name: str
    mode: str
    size_bytes: int
    sha256: str
    min_runtime_version: str | None
    source: str | None
    source_kind: str | None
    created_at: str | None
    convert_seconds: float | None
    metrics: dict[str, Any] | None

    @property
    def label(self) -> str:
        """`name.mode`, how lists show the model."""
        return f"{self.name}.{self.mode}"

    @property
    def score(self) -> float | None:
        """Accuracy when labelled eval data was used, else top-1 agreement, else None."""
        metrics = self.metrics or {}
        value = metrics.get("accuracy", metrics.get("top1_agreement"))
        return float(value) if value is not None else None

    def to_json(self) -> dict[str, Any]:
        """Returns the fields as a JSON-able dict."""
        return {
            "path": str(self.path),
            "name": self.name,
            "mode": self.mode,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "min_runtime_version": self.min_runtime_version,
            "source": self.source,
            "source_kind": self.source_kind,
            "created_at": self.created_at,
            "convert_seconds": self.convert_seconds,
            "metrics": self.metrics,
        }


def remember_dir(directory: Path) -> None:
    """Adds `directory` to the folders the catalogue reads (no-op when known).

    Raises StateFileError when model_dirs.json is corrupt (it is never replaced)."""
    path = studio_home() / DIRS_NAME
    with file_lock(path.with_suffix(".lock")):
        dirs = _remembered(path)
        target = str(directory.resolve())
        if target not in dirs:
            write_text_atomic(path, json.dumps([*dirs, target], indent=2) + "\n")


def check_dirs() -> None:
    """Raises StateFileError when model_dirs.json is corrupt (checked before a conversion,
    so the models it writes can be remembered)."""
    _remembered(studio_home() / DIRS_NAME)


def _remembered(path: Path) -> list[str]:
    what = "the folders the model catalogue reads"
    value = read_state_json(path, what)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise corrupt(path, what, "it is not a JSON list of folder paths")
    return list(value)


def model_dirs() -> list[Path]:
    """Returns the folders the catalogue reads, existing ones only, without repeats."""
    home = studio_home()
    found: list[Path] = [home / "demo"]
    models = home / "models"
    if models.is_dir():
        found += sorted(p for p in models.iterdir() if p.is_dir())
    found += [Path(p) for p in _remembered(home / DIRS_NAME)]
    unique = dict.fromkeys(p.resolve() for p in found if p.is_dir())
    return list(unique)


def read_entry(model: Path) -> ModelEntry | None:
    """Returns the catalogue entry of `model` (needs its manifest), or None."""
    from tfstudio.errors import ModelFormatError
    from tfstudio.models.facts import inspect_model

    manifest_path = model.with_suffix(".json")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        facts = inspect_model(model)
    except (OSError, ValueError, ModelFormatError):
        return None
    if (
        not isinstance(manifest, dict)
        or (manifest.get("model") or {}).get("sha256") != facts.sha256
    ):
        return None  # a stale manifest describes another model
    source = manifest.get("source") or {}
    mode = str(manifest.get("mode") or model.stem.rsplit(".", 1)[-1])
    step: dict[str, Any] = next(
        (s for s in manifest.get("chain", []) if s.get("step") == "convert"), {}
    )
    return ModelEntry(
        path=model,
        name=model.name.removesuffix(".tflite").removesuffix(f".{mode}"),
        mode=mode,
        size_bytes=facts.size_bytes,
        sha256=facts.sha256,
        min_runtime_version=facts.min_runtime_version,
        source=source.get("path"),
        source_kind=source.get("kind"),
        created_at=manifest.get("created_at"),
        convert_seconds=step.get("seconds"),
        metrics=manifest.get("metrics"),
    )


def list_models(dirs: list[Path] | None = None) -> list[ModelEntry]:
    """Returns every converted model in the catalogue's folders, by folder then name."""
    entries: list[ModelEntry] = []
    for directory in dirs if dirs is not None else model_dirs():
        for model in sorted(directory.glob("*.tflite")):
            entry = read_entry(model)
            if entry is not None:
                entries.append(entry)
    return entries
