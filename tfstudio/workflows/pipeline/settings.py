"""What a watch pipeline does with each export: modes, data, devices, gate, settle time."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfstudio.errors import UsageError
from tfstudio.measure.bench import BenchSettings

DEFAULT_SETTLE_S = 5.0
"""How long saved_model.pb and variables/ must stay unchanged (a training job's
export is written within a second or two; a copy over a slow link takes longer:
raise it with --settle)."""

DEFAULT_MODES = ("float32",)


@dataclass(frozen=True)
class PipelineSettings:
    """The choices of one `tfstudio watch`: the same words as convert and deploy."""

    root: Path
    modes: tuple[str, ...] = DEFAULT_MODES
    rep_data: Path | None = None
    eval_data: Path | None = None
    deploy_to: tuple[str, ...] = ()
    bench: bool = False
    max_p99_ms: float | None = None
    settle_s: float = DEFAULT_SETTLE_S
    bench_settings: BenchSettings = field(default_factory=BenchSettings)

    @property
    def benches(self) -> bool:
        """True when a bench runs on each device after activation."""
        return self.bench or self.max_p99_ms is not None

    def check(self) -> None:
        """Raises UsageError for settings no export could satisfy (before watching)."""
        if not self.root.is_dir():
            raise UsageError(f"{self.root} is not a directory: nothing to watch")
        if self.settle_s < 0:
            raise UsageError("--settle must be 0 or more seconds")
        if self.max_p99_ms is not None and self.max_p99_ms <= 0:
            raise UsageError("--max-p99-ms must be more than 0")
        if (self.bench or self.max_p99_ms is not None) and not self.deploy_to:
            raise UsageError("--bench and --max-p99-ms need --on (they run on devices)")
        for path, what in ((self.rep_data, "--rep-data"), (self.eval_data, "--eval-data")):
            if path is not None and not path.exists():
                raise UsageError(f"{what} {path} does not exist")

    def to_json(self) -> dict[str, Any]:
        """Returns the settings as logged with the pipeline's start event."""
        return {
            "root": str(self.root),
            "modes": list(self.modes),
            "rep_data": str(self.rep_data) if self.rep_data else None,
            "eval_data": str(self.eval_data) if self.eval_data else None,
            "deploy_to": list(self.deploy_to),
            "bench": self.bench,
            "max_p99_ms": self.max_p99_ms,
            "settle_s": self.settle_s,
        }
