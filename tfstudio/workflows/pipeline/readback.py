"""The pipeline log read back: one provenance chain per export, variant and device.

`chains()` folds the log into rows: training job and image digest →
SavedModel content hash → variant sha256 → device result (activated,
refused, failed) with the bench's p50/p99, the last outcome of each winning
over earlier ones (a resumed step replaces the one cut short).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tfstudio.workflows.pipeline import journal
from tfstudio.workflows.pipeline.events import STARTED, PipelineEvent


@dataclass(frozen=True)
class ChainRow:
    """One export's variant on one device (device "" for a variant not deployed)."""

    export: str
    name: str
    path: str
    job: str | None
    image_ref: str | None
    image_digest: str | None
    saved_model_sha256: str
    mode: str
    variant_sha256: str | None
    device: str
    status: str
    active: str | None
    p50_ms: float | None
    p99_ms: float | None
    message: str
    time: str

    @property
    def complete(self) -> bool:
        """True when every link is known: job image → SavedModel → variant → activation."""
        return bool(
            self.image_digest
            and self.saved_model_sha256
            and self.variant_sha256
            and self.status == "ok"
            and self.active == self.variant_sha256
        )

    def to_json(self) -> dict[str, Any]:
        """Returns the row as a dict, with `complete`."""
        return asdict(self) | {"complete": self.complete}


def chains(events: list[PipelineEvent] | None = None) -> list[ChainRow]:
    """Returns the chain rows of the log (or of `events`), in the order they first appeared."""
    rows: dict[tuple[str, str, str], ChainRow] = {}
    for event in journal.read() if events is None else events:
        if event.step not in ("convert", "deploy") or event.status == STARTED:
            continue
        variant = event.chain.get("variant") or {}
        mode = str(variant.get("mode") or event.target)
        device = event.target if event.step == "deploy" else ""
        if not device and any(k[:2] == (event.export, mode) and k[2] for k in rows):
            continue  # already deployed: the devices' rows carry the variant
        if device:
            rows.pop((event.export, mode, ""), None)  # deployed: the variant row is in it
        rows[(event.export, mode, device)] = _row(event, mode, device, variant)
    return list(rows.values())


def _row(event: PipelineEvent, mode: str, device: str, variant: dict[str, Any]) -> ChainRow:
    training = event.chain.get("training") or {}
    saved = event.chain.get("saved_model") or {}
    bench = (event.data.get("bench") or {}) if device else {}
    return ChainRow(
        export=event.export,
        name=str(saved.get("name") or ""),
        path=event.path,
        job=training.get("job"),
        image_ref=training.get("image_ref"),
        image_digest=training.get("image_digest"),
        saved_model_sha256=str(saved.get("sha256") or event.export),
        mode=mode,
        variant_sha256=variant.get("sha256") or event.data.get("sha256"),
        device=device,
        status=event.status,
        active=(event.data.get("active") if device else None),
        p50_ms=bench.get("p50_ms"),
        p99_ms=bench.get("p99_ms"),
        message=event.message,
        time=event.time,
    )


def errors(events: list[PipelineEvent] | None = None) -> list[PipelineEvent]:
    """Returns the failures still standing, oldest first: each step whose last outcome
    failed (a step redone since is not one), and exports that failed outside a step."""
    events = journal.read() if events is None else events
    last_step: dict[tuple[str, str], PipelineEvent] = {}
    last_export: dict[str, PipelineEvent] = {}
    for event in events:
        key = journal.step_key(event)
        if key is not None:
            last_step[(event.export, key)] = event
        elif event.step == "export":
            last_export[event.export or event.path] = event
    steps = [e for e in last_step.values() if e.failed]
    with_step = {e.export for e in steps}
    exports = [e for e in last_export.values() if e.failed and e.export not in with_step]
    return sorted(steps + exports, key=lambda e: e.time)
