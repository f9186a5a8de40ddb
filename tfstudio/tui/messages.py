"""The UI's typed messages: requests from forms, progress and results from workers.

Workers never touch widgets: they post one of these (`post_message` is
thread-safe) and the screen that owns the worker updates itself. They do not
bubble: the screen that posts one is the one that handles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from tfstudio.operations import Event, FleetResult
    from tfstudio.studio.logs import LogStream
    from tfstudio.studio.overview import DeviceSummary, Readiness
    from tfstudio.studio.training_types import EngineJobs, EngineReport, JobOutcome, TrainRequest
    from tfstudio.studio.types import (
        ConversionResult,
        Engine,
        GpuCheckResult,
        HostKeyOffer,
        LaunchResult,
        ModelEntry,
        Provenance,
    )


class Progress(Message, bubble=False):
    """One event of a running operation (a stage, a transfer tick, a finished target)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


@dataclass
class ConvertRequest:
    """What the convert form asks for."""

    source: str
    outdir: str | None
    modes: list[str]
    rep_data: str | None
    eval_data: str | None
    fixed_batch: int | None = None


class ConvertRequested(Message, bubble=False):
    """The user asked for a conversion."""

    def __init__(self, request: ConvertRequest) -> None:
        super().__init__()
        self.request = request


class Converted(Message, bubble=False):
    """A conversion (or the demo's) finished; `entries` are its catalogue rows."""

    def __init__(self, result: ConversionResult, entries: list[ModelEntry]) -> None:
        super().__init__()
        self.result = result
        self.entries = entries


class WorldRead(Message, bubble=False):
    """Fresh readiness, device summaries and models for the dashboard."""

    def __init__(
        self, parts: list[Readiness], devices: list[DeviceSummary], models: list[ModelEntry]
    ) -> None:
        super().__init__()
        self.parts = parts
        self.devices = devices
        self.models = models


class DemoFinished(Message, bubble=False):
    """The demo ran end to end; `report` is its DemoReport, `entries` its variants."""

    def __init__(self, report: Any, entries: list[ModelEntry]) -> None:
        super().__init__()
        self.report = report
        self.entries = entries


@dataclass
class DeployRequest:
    """What the deploy form asks for."""

    model: Path
    devices: list[str]
    bench: bool
    max_p99_ms: float | None
    selector: str | None = None
    """A selector (`group:cams`, `site=lab`) instead of the ticked devices."""
    waves: str | None = None
    """`1,25%,100%`: a staged rollout (None: every device at once)."""
    max_failures: int = 0
    soak_s: float | None = None


class DeployRequested(Message, bubble=False):
    """The user asked for a deploy."""

    def __init__(self, request: DeployRequest) -> None:
        super().__init__()
        self.request = request


class Deployed(Message, bubble=False):
    """A deploy finished on every device."""

    def __init__(self, result: FleetResult[Any]) -> None:
        super().__init__()
        self.result = result


class RolledOut(Message, bubble=False):
    """A staged rollout ended: done, halted or interrupted (`result` is a RolloutResult)."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class Benched(Message, bubble=False):
    """A bench finished on every device."""

    def __init__(self, result: FleetResult[Any]) -> None:
        super().__init__()
        self.result = result


class Checked(Message, bubble=False):
    """Device checks finished."""

    def __init__(self, result: FleetResult[Any]) -> None:
        super().__init__()
        self.result = result


class HostKeyScanned(Message, bubble=False):
    """A device offered its host key; the user is asked next."""

    def __init__(self, offer: HostKeyOffer) -> None:
        super().__init__()
        self.offer = offer


class HostKeyTrusted(Message, bubble=False):
    """The offered key was recorded."""

    def __init__(self, offer: HostKeyOffer, path: Path) -> None:
        super().__init__()
        self.offer = offer
        self.path = path


class DeviceAnswer(Message, bubble=False):
    """A one-device call answered (agent install, models list, rollback)."""

    def __init__(self, device: str, what: str, answer: Any) -> None:
        super().__init__()
        self.device = device
        self.what = what
        self.answer = answer


class ReportRead(Message, bubble=False):
    """The variants x devices matrix (`tfstudio.measure.report.Report`) was built."""

    def __init__(self, report: Any) -> None:
        super().__init__()
        self.report = report


class MetricsRead(Message, bubble=False):
    """One scrape of a device's live metrics (`tfstudio.tunnel.telemetry.DeviceMetrics`)."""

    def __init__(self, metrics: Any) -> None:
        super().__init__()
        self.metrics = metrics


# -- training containers ------------------------------------------------------


class JobsRead(Message, bubble=False):
    """One engine's jobs now, or its state with the fix."""

    def __init__(self, board: EngineJobs) -> None:
        super().__init__()
        self.board = board


class EnginesRead(Message, bubble=False):
    """The known engines and, when checked, their state."""

    def __init__(self, engines: list[Engine], report: EngineReport | None) -> None:
        super().__init__()
        self.engines = engines
        self.report = report


class ImagesRead(Message, bubble=False):
    """The pinned image references on the engine (for the forms' suggestions)."""

    def __init__(self, refs: list[str]) -> None:
        super().__init__()
        self.refs = refs


class TrainRequested(Message, bubble=False):
    """The user asked for a new job."""

    def __init__(self, request: TrainRequest) -> None:
        super().__init__()
        self.request = request


class Launched(Message, bubble=False):
    """A job started."""

    def __init__(self, result: LaunchResult) -> None:
        super().__init__()
        self.result = result


class LogStarted(Message, bubble=False):
    """A job's log is being followed; the screen keeps (or stops) the stream."""

    def __init__(self, stream: LogStream) -> None:
        super().__init__()
        self.stream = stream


class LogLines(Message, bubble=False):
    """A batch of a followed job's log lines."""

    def __init__(self, job_id: str, lines: list[str]) -> None:
        super().__init__()
        self.job_id = job_id
        self.lines = lines


class LogEnded(Message, bubble=False):
    """Following ended by itself: the job ended (`error` None) or the stream failed."""

    def __init__(self, job_id: str, error: Exception | None) -> None:
        super().__init__()
        self.job_id = job_id
        self.error = error


class JobActed(Message, bubble=False):
    """A stop, kill or remove finished."""

    def __init__(self, outcome: JobOutcome) -> None:
        super().__init__()
        self.outcome = outcome


class ProvenanceRead(Message, bubble=False):
    """A job's provenance record."""

    def __init__(self, job_id: str, record: Provenance) -> None:
        super().__init__()
        self.job_id = job_id
        self.record = record


class GpuChecked(Message, bubble=False):
    """A GPU check's verdict."""

    def __init__(self, result: GpuCheckResult) -> None:
        super().__init__()
        self.result = result


class EngineAdded(Message, bubble=False):
    """An engine was stored (from the engine form)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
