"""What the studio asks of the conversion worker, and what the worker answers.

Plain frozen values: they cross the process boundary between `supervisor`
(in the caller's process) and `worker` (the child that holds TensorFlow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfstudio.convert.result import EvalSummary
from tfstudio.errors import UsageError
from tfstudio.models.source import SERVING_KEY, InputSpec, OutputSpec, SourceInfo


@dataclass(frozen=True)
class ConvertOptions:
    """Options that change how every mode is converted or scored.

    `eval_output`: the output accuracy is computed on (name or Keras alias;
    default the first in the signature). `fixed_batch`: export a Keras source
    with this static batch size. `select_tf_ops`: allow TensorFlow (Flex) ops.
    `allow_float_fallback`: let ops without an integer kernel stay float in
    the full-integer modes. `signature`: the SavedModel signature converted
    (default `serving_default`); the model is converted with it alone.
    """

    eval_output: str | None = None
    fixed_batch: int | None = None
    select_tf_ops: bool = False
    allow_float_fallback: bool = False
    signature: str | None = None

    @property
    def signature_key(self) -> str:
        """The signature converted: `signature`, else serving_default."""
        return self.signature or SERVING_KEY

    def check(self, has_eval_data: bool) -> None:
        """Raises UsageError for a batch size below 1 or --eval-output without eval data."""
        if self.fixed_batch is not None and (
            isinstance(self.fixed_batch, bool) or int(self.fixed_batch) < 1
        ):
            raise UsageError(f"--fixed-batch must be a positive integer, not {self.fixed_batch}")
        if self.eval_output and not has_eval_data:
            raise UsageError("--eval-output needs --eval-data")
        if self.signature is not None and not self.signature.strip():
            raise UsageError("--signature needs a signature name, e.g. serving_default")

    def to_json(self) -> dict[str, Any]:
        """Returns {signature, fixed_batch, select_tf_ops, allow_float_fallback} for manifests."""
        return {
            "signature": self.signature_key,
            "fixed_batch": self.fixed_batch,
            "select_tf_ops": self.select_tf_ops,
            "allow_float_fallback": self.allow_float_fallback,
        }


@dataclass(frozen=True)
class Job:
    """One `convert` call as the worker sees it; `workdir` is the studio's scratch directory."""

    info: SourceInfo
    rep_data: Path | None
    eval_data: Path | None
    options: ConvertOptions
    workdir: Path


@dataclass(frozen=True)
class Prepared:
    """The worker's answer once the source is loaded and the data checked."""

    tensorflow_version: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    rep: dict[str, Any] | None
    calibration_samples: int
    evaluation: EvalSummary | None = None


@dataclass(frozen=True)
class ModeOutcome:
    """One mode converted, verified and scored: the model bytes and what is known of them."""

    model: bytes
    seconds: float
    metrics: dict[str, Any] | None
    float_fallback_ops: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
