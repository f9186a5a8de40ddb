"""What `convert` returns: frozen results that know how to print themselves as JSON.

Every variant's JSON carries a `status`: "ok" with its facts, metrics and
manifest, or "failed" with its one-line error. When any mode failed, `convert`
raises `ModesFailedError`, which still carries the whole result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfstudio.convert.presets import Mode
from tfstudio.errors import ConversionError, TfStudioError
from tfstudio.models.facts import ModelFacts, facts_to_json
from tfstudio.models.source import SourceInfo


@dataclass(frozen=True)
class VariantResult:
    """One converted model: its mode, files, facts, conversion time and eval metrics.

    `float_fallback_ops` are the ops left in float under --allow-float-fallback
    (always empty without it); `notes` say what could not be checked and why.
    """

    mode: str
    path: Path
    manifest_path: Path
    facts: ModelFacts
    convert_seconds: float
    metrics: dict[str, Any] | None = None
    float_fallback_ops: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def size_bytes(self) -> int:
        """Size of the .tflite file in bytes."""
        return self.facts.size_bytes

    def to_json(self) -> dict[str, Any]:
        """Returns mode, status "ok", path, the model's facts (see facts_to_json),
        convert_seconds, float_fallback_ops, metrics (None without eval data), notes and
        manifest."""
        out: dict[str, Any] = {"mode": self.mode, "status": "ok"}
        out.update(facts_to_json(self.facts, self.path))
        out["convert_seconds"] = round(self.convert_seconds, 3)
        out["float_fallback_ops"] = dict(self.float_fallback_ops)
        out["metrics"] = self.metrics
        out["notes"] = list(self.notes)
        out["manifest"] = str(self.manifest_path)
        return out


@dataclass(frozen=True)
class FailedVariant:
    """A mode that failed; nothing was written for it. `error` is its one-line message."""

    mode: str
    error: TfStudioError

    def to_json(self) -> dict[str, Any]:
        """Returns {mode, status: "failed", error, error_type, hint}."""
        return {
            "mode": self.mode,
            "status": "failed",
            "error": self.error.message,
            "error_type": type(self.error).__name__,
            "hint": self.error.hint,
        }


@dataclass(frozen=True)
class EvalSummary:
    """The eval data used, the output accuracy is computed on, and the float source's score.

    `eval_output` is a signature output name; `eval_output_label` adds its Keras
    name when known; `chosen_by` says why it was picked.
    """

    path: Path
    sha256: str
    samples: int
    labelled: bool
    float_accuracy: float | None
    eval_output: str = ""
    eval_output_label: str = ""
    chosen_by: str = "first in the signature"
    outputs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Returns {path, sha256, samples, labelled, float_accuracy, eval_output, chosen_by,
        outputs}."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "samples": self.samples,
            "labelled": self.labelled,
            "float_accuracy": self.float_accuracy,
            "eval_output": self.eval_output,
            "eval_output_label": self.eval_output_label,
            "chosen_by": self.chosen_by,
            "outputs": list(self.outputs),
        }


@dataclass(frozen=True)
class ConversionResult:
    """Everything one `convert` call produced: written variants and failed modes, in mode order."""

    source: SourceInfo
    outdir: Path
    tensorflow_version: str
    variants: tuple[VariantResult, ...]
    evaluation: EvalSummary | None = None
    failures: tuple[FailedVariant, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every requested mode was written."""
        return not self.failures

    def variant(self, mode: str) -> VariantResult:
        """Returns the variant of `mode`. Raises KeyError when it was not converted."""
        for v in self.variants:
            if v.mode == mode:
                return v
        raise KeyError(mode)

    def failure(self, mode: str) -> FailedVariant:
        """Returns the failure of `mode`. Raises KeyError when it did not fail."""
        for f in self.failures:
            if f.mode == mode:
                return f
        raise KeyError(mode)

    def size_ratio(self, mode: str) -> float | None:
        """Returns the variant's size over the float32 variant's, or None without float32."""
        try:
            base = self.variant("float32").size_bytes
        except KeyError:
            return None
        return self.variant(mode).size_bytes / base

    def rows(self) -> list[VariantResult | FailedVariant]:
        """Returns variants and failures together, in mode order."""
        order = {m.value: i for i, m in enumerate(Mode)}
        return sorted([*self.variants, *self.failures], key=lambda r: order.get(r.mode, 99))

    def to_json(self) -> dict[str, Any]:
        """Returns {source: {path, sha256, kind}, outdir, tensorflow_version, ok, variants
        (each with its status), eval}."""
        return {
            "source": self.source.to_json(),
            "outdir": str(self.outdir),
            "tensorflow_version": self.tensorflow_version,
            "ok": self.ok,
            "variants": [row.to_json() for row in self.rows()],
            "eval": self.evaluation.to_json() if self.evaluation else None,
        }


class ModesFailedError(ConversionError):
    """One or more modes failed; the others were written. `result` holds both."""

    def __init__(self, result: ConversionResult) -> None:
        failures = result.failures
        if len(failures) == 1:
            only = failures[0].error
            message, hint = only.message, only.hint
        else:
            total = len(failures) + len(result.variants)
            # Modes that failed for the same reason are named together, the reason once.
            by_reason: dict[str, list[str]] = {}
            for f in failures:
                by_reason.setdefault(f.error.message.removeprefix(f"{f.mode}: "), []).append(f.mode)
            message = f"{len(failures)} of {total} modes failed: " + "; ".join(
                f"{', '.join(modes)}: {reason}" for reason, modes in by_reason.items()
            )
            hints = [f.error.hint for f in failures if f.error.hint]
            hint = "; ".join(dict.fromkeys(hints)) or None
        super().__init__(message, hint=hint)
        self.result = result
