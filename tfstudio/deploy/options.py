"""What a deploy takes and gives back: its options (gates, keep, deadlines, pool size),
how one device's deploy ended (`Status`) and its `DeployResult`.

Shared by the steps (`tfstudio.deploy.steps`) and the fan-out (`tfstudio.deploy.run`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from tfstudio.deploy.evalgate import EvalGate
from tfstudio.deploy.session import SessionSettings
from tfstudio.measure.bench import BenchSettings

DEFAULT_WORKERS = 8


class Status(str, Enum):
    """How a deploy to one device ended."""

    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class DeployOptions:
    """What a deploy does beyond the push: keep, health gate, deadlines, pool size.

    `keep` prunes the device's store after a deploy that succeeded (never the
    active model nor its rollback target). Deadlines are in seconds; see
    `tfstudio.config.Config` for what each bounds.
    """

    bench: bool = False
    max_p99_ms: float | None = None
    keep: int | None = None
    bench_settings: BenchSettings = field(default_factory=BenchSettings)
    install_timeout: float = 300.0
    connect_timeout: float | None = None
    command_timeout: float = 120.0
    stall_timeout: float = 30.0
    lock_wait: float = 60.0
    reconnect_timeout: float = 60.0
    workers: int = DEFAULT_WORKERS
    eval_gate: EvalGate | None = None
    """On-device evaluation after activation (`--eval-data`, `--min-accuracy`)."""

    @property
    def benches(self) -> bool:
        """True when a bench runs after activation."""
        return self.bench or self.max_p99_ms is not None

    @property
    def gate(self) -> bool:
        """True when a health gate (bench and/or eval) runs after activation."""
        return self.benches or self.eval_gate is not None

    def session_settings(self) -> SessionSettings:
        """The deadlines of one device's session."""
        return SessionSettings(
            command_timeout=self.command_timeout,
            install_timeout=self.install_timeout,
            lock_wait=self.lock_wait,
            reconnect_timeout=self.reconnect_timeout,
            stall_timeout=self.stall_timeout,
        )


@dataclass(frozen=True)
class DeployResult:
    """The outcome for one device; `active` is what the device runs at the end (None: unknown)."""

    device: str
    status: Status
    message: str
    sha256: str
    hint: str | None = None
    bytes_sent: int = 0
    resumed_from: int = 0
    already_present: bool = False
    active: str | None = None
    previous: str | None = None
    bench: dict[str, Any] | None = None
    eval: dict[str, Any] | None = None
    problems: tuple[dict[str, Any], ...] = ()
    preflight: str = ""
    """What preflight's runtime verdict rests on ("proven on tflite-runtime 2.14.0",
    "from the op table measured on ..."); empty before preflight ran."""
    pruned: tuple[str, ...] = ()
    reconnected: bool = False
    duration_s: float = 0.0
    gate_failure: str | None = None
    """Why the health gate failed (p99 over budget, accuracy under the minimum), if it did."""

    @property
    def ok(self) -> bool:
        """True for a deploy that left the new model active."""
        return self.status is Status.OK

    def to_json(self) -> dict[str, Any]:
        """Returns the result as a JSON-able dict (status as its string)."""
        out = asdict(self)
        out["status"] = self.status.value
        out["problems"] = list(self.problems)
        out["pruned"] = list(self.pruned)
        return out
