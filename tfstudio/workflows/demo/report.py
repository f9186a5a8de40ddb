"""What the demo returns: one row per quantization mode, the training, each stage's time.

A row holds what a newcomer compares (size, accuracy, p50, p99, the minimum
runtime the variant needs) or, when a step failed for that mode, the step and
its one-line error: one mode's failure never hides the others. `table()` gives
the cells every front end draws (the CLI with rich, the UI in a DataTable), and
`to_json()` the same as one document.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.formatting import human_bytes, ms, percent

STAGES = ("train", "export", "convert", "deploy", "bench")
"""The demo's stages, in order."""
COLUMNS = ("mode", "size", "accuracy", "p50 ms", "p99 ms", "min runtime", "result")
"""The table's columns."""


@dataclass(frozen=True)
class StageTime:
    """How long one stage took, and how it ended (`note`: a one-line summary)."""

    name: str
    seconds: float
    ok: bool = True
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """Returns {name, seconds, ok, note}."""
        return {
            "name": self.name,
            "seconds": round(self.seconds, 2),
            "ok": self.ok,
            "note": self.note,
        }


@dataclass(frozen=True)
class Training:
    """Where the digits CNN was trained and what it produced.

    `where` is "container" or "process"; `why` says why. In a container,
    `image`, `image_digest`, `job` and `record` (the job's provenance file)
    name what made the SavedModel.
    """

    where: str
    why: str
    saved_model: Path
    saved_model_sha256: str = ""
    epochs: int = 0
    test_accuracy: float | None = None
    image: str | None = None
    image_digest: str | None = None
    job: str | None = None
    record: Path | None = None

    def line(self) -> str:
        """One line: where and on what it trained."""
        if self.where == "container":
            digest = (self.image_digest or "?")[:19]
            return f"trained in a container: {self.image} ({digest}), job {self.job}"
        return f"trained in this process ({self.why})"

    def to_json(self) -> dict[str, Any]:
        """Returns every field (paths as strings)."""
        return {
            "where": self.where,
            "why": self.why,
            "saved_model": str(self.saved_model),
            "saved_model_sha256": self.saved_model_sha256,
            "epochs": self.epochs,
            "test_accuracy": self.test_accuracy,
            "image": self.image,
            "image_digest": self.image_digest,
            "job": self.job,
            "provenance": str(self.record) if self.record else None,
        }


@dataclass(frozen=True)
class DemoRow:
    """One quantization mode: its numbers, or the step that failed and why."""

    mode: str
    path: Path | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    accuracy: float | None = None
    min_runtime: str | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    deployed: bool = False
    failed_step: str | None = None
    error: str | None = None
    hint: str | None = None

    @property
    def ok(self) -> bool:
        """True when every step went through for this mode."""
        return self.failed_step is None

    def result(self) -> str:
        """The table's last cell: `ok`, or `<step> failed: <error>`."""
        return "ok" if self.ok else f"{self.failed_step} failed: {self.error}"

    def cells(self) -> list[str]:
        """The row as the table's cells (see COLUMNS)."""
        return [
            self.mode,
            human_bytes(self.size_bytes) if self.size_bytes is not None else "-",
            percent(self.accuracy),
            ms(self.p50_ms),
            ms(self.p99_ms),
            self.min_runtime or "-",
            self.result(),
        ]

    def to_json(self) -> dict[str, Any]:
        """Returns every field; `status` is "ok" or "failed"."""
        return {
            "mode": self.mode,
            "status": "ok" if self.ok else "failed",
            "path": str(self.path) if self.path else None,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "accuracy": self.accuracy,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "min_runtime_version": self.min_runtime,
            "deployed": self.deployed,
            "failed_step": self.failed_step,
            "error": self.error,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class DemoReport:
    """The whole demo: training, the rows, the device, each stage's time."""

    outdir: Path
    device: str
    training: Training
    rows: tuple[DemoRow, ...]
    stages: tuple[StageTime, ...]
    float_accuracy: float | None = None
    tensorflow_version: str = ""

    @property
    def ok(self) -> bool:
        """True when every mode went through every step."""
        return all(r.ok for r in self.rows)

    @property
    def total_seconds(self) -> float:
        """The stages' times added up."""
        return sum(s.seconds for s in self.stages)

    def row(self, mode: str) -> DemoRow:
        """Returns the row of `mode`. Raises KeyError."""
        for r in self.rows:
            if r.mode == mode:
                return r
        raise KeyError(mode)

    def table(self) -> list[list[str]]:
        """Returns every row's cells (see COLUMNS)."""
        return [r.cells() for r in self.rows]

    def stage_line(self) -> str:
        """One line: each stage's time and the total, e.g. `train 8.1 s · export 1.0 s ...`."""
        parts = [f"{s.name} {s.seconds:.1f} s" + ("" if s.ok else " (failed)") for s in self.stages]
        return " · ".join([*parts, f"total {self.total_seconds:.1f} s"])

    def to_json(self) -> dict[str, Any]:
        """Returns the demo as one document: {ok, outdir, device, training, float_accuracy,
        tensorflow_version, rows, stages, total_seconds}."""
        return {
            "ok": self.ok,
            "outdir": str(self.outdir),
            "device": self.device,
            "training": self.training.to_json(),
            "float_accuracy": self.float_accuracy,
            "tensorflow_version": self.tensorflow_version,
            "rows": [r.to_json() for r in self.rows],
            "stages": [s.to_json() for s in self.stages],
            "total_seconds": round(self.total_seconds, 2),
        }
