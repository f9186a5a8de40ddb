"""What `convert` returns: frozen results that know how to print themselves as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.convert.source import SourceInfo
from tfstudio.modelinfo import ModelFacts, facts_to_json


@dataclass(frozen=True)
class VariantResult:
    """One converted model: its mode, files, facts, conversion time and eval metrics."""

    mode: str
    path: Path
    manifest_path: Path
    facts: ModelFacts
    convert_seconds: float
    metrics: dict[str, Any] | None = None

    @property
    def size_bytes(self) -> int:
        """Size of the .tflite file in bytes."""
        return self.facts.size_bytes

    def to_json(self) -> dict[str, Any]:
        """Returns mode, path, size_bytes, sha256, min_runtime_version, ops, inputs,
        outputs, convert_seconds, metrics (None without eval data) and manifest."""
        out: dict[str, Any] = {"mode": self.mode}
        out.update(facts_to_json(self.facts, self.path))
        out["convert_seconds"] = round(self.convert_seconds, 3)
        out["metrics"] = self.metrics
        out["manifest"] = str(self.manifest_path)
        return out


@dataclass(frozen=True)
class EvalSummary:
    """The eval data used and the float source's own score on it."""

    path: Path
    sha256: str
    samples: int
    labelled: bool
    float_accuracy: float | None

    def to_json(self) -> dict[str, Any]:
        """Returns {path, sha256, samples, labelled, float_accuracy}."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "samples": self.samples,
            "labelled": self.labelled,
            "float_accuracy": self.float_accuracy,
        }


@dataclass(frozen=True)
class ConversionResult:
    """Everything one `convert` call produced, in mode order."""

    source: SourceInfo
    outdir: Path
    tensorflow_version: str
    variants: tuple[VariantResult, ...]
    evaluation: EvalSummary | None = None

    def variant(self, mode: str) -> VariantResult:
        """Returns the variant of `mode`. Raises KeyError when it was not converted."""
        for v in self.variants:
            if v.mode == mode:
                return v
        raise KeyError(mode)

    def size_ratio(self, mode: str) -> float | None:
        """Returns the variant's size over the float32 variant's, or None without float32."""
        try:
            base = self.variant("float32").size_bytes
        except KeyError:
            return None
        return self.variant(mode).size_bytes / base

    def to_json(self) -> dict[str, Any]:
        """Returns {source: {path, sha256, kind}, outdir, tensorflow_version, variants, eval}."""
        return {
            "source": self.source.to_json(),
            "outdir": str(self.outdir),
            "tensorflow_version": self.tensorflow_version,
            "variants": [v.to_json() for v in self.variants],
            "eval": self.evaluation.to_json() if self.evaluation else None,
        }
