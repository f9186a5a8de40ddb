"""The facade's bench row: one device's bench outcome with the model's label.

`Studio.bench` runs `tfstudio.measure.bench.bench_many` (which speaks the one
operation contract through its `on_event`) and wraps each `BenchOutcome` in a
`BenchRow`, which adds what a front end shows: the model's label, a one-line
message and the numbers by key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfstudio.measure.bench import BenchOutcome

LATENCY_KEYS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "init_ms", "first_invoke_ms")


@dataclass(frozen=True)
class BenchRow(BenchOutcome):
    """One device's bench (the agent's report, or the error and its fix) and its model."""

    model: str = "active"

    @classmethod
    def of(cls, outcome: BenchOutcome, model: Path | None) -> BenchRow:
        """Returns `outcome` labelled with `model`'s file name (the active model's own
        name when `model` is None and the agent reported one)."""
        label = model.name if model is not None else "active"
        if model is None and outcome.report is not None:
            first = outcome.runs[0] if outcome.runs else outcome.report
            label = str((first.get("model") or {}).get("name") or label)
        return cls(
            outcome.device,
            outcome.report,
            outcome.error,
            outcome.hint,
            outcome.pushed_bytes,
            model=label,
        )

    @property
    def ok(self) -> bool:
        """True when the agent reported numbers."""
        return self.report is not None

    @property
    def message(self) -> str:
        """One line: the p50/p99 or the error."""
        if self.report is None:
            return self.error or "failed"
        return f"p50 {self.value('p50_ms'):.3f} ms, p99 {self.value('p99_ms'):.3f} ms"

    def value(self, key: str) -> float:
        """Returns a number of the report (of a sweep's fastest run; NaN when absent)."""
        runs = self.runs
        best = next((r for r in runs if r.get("fastest")), runs[0] if runs else {})
        found = best.get(key)
        return float(found) if isinstance(found, (int, float)) else float("nan")

    def numbers(self) -> dict[str, Any]:
        """Returns the latency numbers of `value`, by key."""
        return {k: self.value(k) for k in LATENCY_KEYS}
