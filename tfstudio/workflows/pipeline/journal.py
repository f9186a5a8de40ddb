"""The pipeline log (`TFSTUDIO_HOME/pipeline/events.jsonl`) and the state it folds into.

The log is the only state: one JSON line per event, appended under a lock
(several watchers may share a home). A line cut short by a crash is skipped.
`ExportState` folds one export's events into what a restart needs: which
steps have a final outcome (done, refused, rolled back: never redone) and
which were started and never finished, or failed (redone).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfstudio.config import studio_home
from tfstudio.errors import OutputError
from tfstudio.history import append_jsonl, read_jsonl
from tfstudio.workflows.pipeline.events import FINAL, OK, STARTED, PipelineEvent

DIR_NAME = "pipeline"
LOG_NAME = "events.jsonl"


def pipeline_dir() -> Path:
    """Returns TFSTUDIO_HOME/pipeline (the log and the converted variants live there)."""
    return studio_home() / DIR_NAME


def log_path() -> Path:
    """Returns the pipeline log's path."""
    return pipeline_dir() / LOG_NAME


def append(event: PipelineEvent) -> None:
    """Appends `event` as one JSON line. Raises OutputError when the log cannot be written."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write the pipeline log {path}: {exc.strerror}") from exc
    append_jsonl(path, event.to_json())


def read() -> list[PipelineEvent]:
    """Returns every event in the log, oldest first (an unreadable line is skipped).

    Raises OutputError when the log exists but cannot be read.
    """
    return [PipelineEvent.from_json(data) for data in read_jsonl(log_path())]


@dataclass
class ExportState:
    """What the log says about one export (by content hash)."""

    export: str
    outcomes: dict[str, str] = field(default_factory=dict)
    """`convert:<mode>`, `evaluate:<mode>`, `deploy:<mode>:<device>` → last status."""
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    """mode → {path, sha256, ...} of each variant converted OK."""

    def final(self, key: str) -> bool:
        """True when step `key` has an outcome a restart keeps."""
        return self.outcomes.get(key) in FINAL

    def cut_short(self) -> list[str]:
        """Returns the steps that started and never reported an outcome."""
        return sorted(k for k, status in self.outcomes.items() if status == STARTED)

    def apply(self, event: PipelineEvent) -> None:
        """Folds one event of this export into the state."""
        key = step_key(event)
        if key is None:
            return
        self.outcomes[key] = event.status
        if event.step == "convert" and event.status == OK:
            self.variants[event.target] = dict(event.data)


def step_key(event: PipelineEvent) -> str | None:
    """Returns the restart key of a step event (None for events that are not steps)."""
    if event.step in ("convert", "evaluate"):
        return f"{event.step}:{event.target}"
    if event.step == "deploy":
        mode = str(event.chain.get("variant", {}).get("mode", ""))
        return f"deploy:{mode}:{event.target}"
    return None


def fold(events: Iterable[PipelineEvent]) -> dict[str, ExportState]:
    """Returns every export's state, by content hash."""
    states: dict[str, ExportState] = {}
    for event in events:
        if not event.export:
            continue
        states.setdefault(event.export, ExportState(event.export)).apply(event)
    return states


def load_state(export: str) -> ExportState:
    """Returns the logged state of one export (empty when the log never saw it)."""
    return fold(e for e in read() if e.export == export).get(export, ExportState(export))
