"""The pipeline's event: one step's start or outcome for one export, with its provenance.

Every event carries the chain known so far: `training` (the job and image
digest, when a tfstudio job exported the model), `saved_model` (path and
content hash), and where the step is about one variant or one device,
`variant` (mode, sha256) and `device` (name, result, active model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

STARTED = "started"
OK = "ok"
FAILED = "failed"
REFUSED = "refused"
ROLLED_BACK = "rolled_back"
SKIPPED = "skipped"
CANCELLED = "cancelled"

PROGRESS = "progress"
"""The step of a live progress event (a device's deploy stage): reported, never logged."""

FINAL = frozenset({OK, REFUSED, ROLLED_BACK, SKIPPED})
"""Outcomes a restart does not redo. A failed or cancelled step is tried again."""


@dataclass(frozen=True)
class PipelineEvent:
    """One line of the pipeline log.

    `step` is watch (start/stop), settled, export (the whole export), convert,
    evaluate, deploy, or progress (a device's deploy stage, in `status`; not
    logged); `target` the mode or device it is about
    ("" for the export); `export` the SavedModel's content hash ("" for watch
    events).
    """

    step: str
    status: str
    message: str = ""
    export: str = ""
    path: str = ""
    target: str = ""
    chain: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    time: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    )

    @property
    def failed(self) -> bool:
        """True for a step that ended in an error."""
        return self.status == FAILED

    def to_json(self) -> dict[str, Any]:
        """Returns the event as one JSON-able dict (the log line)."""
        return {
            "time": self.time,
            "step": self.step,
            "status": self.status,
            "target": self.target,
            "export": self.export,
            "path": self.path,
            "message": self.message,
            "chain": self.chain,
            "data": self.data,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PipelineEvent:
        """Returns the event of a log line (missing keys take their defaults)."""
        return cls(
            step=str(data.get("step", "")),
            status=str(data.get("status", "")),
            message=str(data.get("message", "")),
            export=str(data.get("export", "")),
            path=str(data.get("path", "")),
            target=str(data.get("target", "")),
            chain=_object(data.get("chain")),
            data=_object(data.get("data")),
            time=str(data.get("time", "")),
        )

    def line(self) -> str:
        """Returns the event as one human line: `step target: status  message`."""
        where = f"{self.step} {self.target}".strip()
        name = self.path.rsplit("/", 2)[-2:] if self.path and self.export else []
        head = f"[{'/'.join(name)}] " if name else ""
        tail = f"  {self.message}" if self.message else ""
        return f"{head}{where}: {self.status}{tail}"


def _object(value: Any) -> dict[str, Any]:
    """A log line's object field, or {} when the line holds something else there."""
    return dict(value) if isinstance(value, dict) else {}
