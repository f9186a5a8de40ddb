"""The deploy pipeline, per device, and its fan-out over many devices.

Per device: connect → agent `info` → preflight (nothing sent yet) → skip the
upload when the device already stores the sha256 → resumable push into
`inbox/` → `install --sha256` (the agent verifies, validates, stores,
activates) → optional health gate (bench; roll back automatically when it
fails or p99 is over budget) → a frozen DeployResult, logged to the deploy
log. `deploy_many` runs that on a bounded pool; one device's failure or
timeout never stops the others. Nothing here prints: progress goes to
callbacks, cancellation comes from a threading.Event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from edge_agent.tflite_schema import ModelFacts
from tfstudio.errors import CancelledError, PreflightError, TfStudioError, TransportError
from tfstudio.fleet import deploylog, preflight
from tfstudio.fleet.agentcall import AgentClient, AgentRefusal
from tfstudio.fleet.bench import BenchSettings, bench_args, is_stored
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.push import TransferProgress, push
from tfstudio.fleet.registry import Device
from tfstudio.fleet.transport import Transport

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
    """What a deploy does beyond the push: keep, health gate, timeouts, pool size."""

    bench: bool = False
    max_p99_ms: float | None = None
    keep: int | None = None
    bench_settings: BenchSettings = field(default_factory=BenchSettings)
    install_timeout: float = 300.0
    connect_timeout: float | None = None
    workers: int = DEFAULT_WORKERS

    @property
    def gate(self) -> bool:
        """True when a bench runs after activation."""
        return self.bench or self.max_p99_ms is not None


@dataclass(frozen=True)
class DeployEvent:
    """A progress event for one device: a stage change or a transfer tick."""

    device: str
    stage: str
    message: str = ""
    transfer: TransferProgress | None = None


@dataclass(frozen=True)
class DeployResult:
    """The outcome for one device."""

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
    problems: tuple[dict[str, Any], ...] = ()
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True for a deploy that left the new model active."""
        return self.status is Status.OK

    def to_json(self) -> dict[str, Any]:
        """Returns the result as a JSON-able dict (status as its string)."""
        out = asdict(self)
        out["status"] = self.status.value
        out["problems"] = list(self.problems)
        return out


EventCallback = Callable[[DeployEvent], None]
Connector = Callable[[Device], Transport]


class _Run:
    """One device's deploy: holds what the result will report."""

    def __init__(self, model: Path, facts: ModelFacts, device: Device, options: DeployOptions):
        self.model, self.facts, self.device, self.options = model, facts, device, options
        self.fields: dict[str, Any] = {}

    def execute(
        self, transport: Transport, emit: Callable[..., None], cancel: threading.Event
    ) -> DeployResult:
        sha, name = self.facts.sha256, self.device.name
        client = AgentClient(self.device, transport, timeout=self.options.install_timeout)
        emit("info", "asking the agent")
        info = client.call("info")
        verdict = preflight.check(self.facts, info, name)
        self.fields["problems"] = tuple(p.to_json() for p in verdict.problems)
        verdict.raise_if_refused()
        _check_cancel(cancel, name)
        if (info.get("active") or {}).get("sha256") == sha:
            self.fields.update(already_present=True, active=sha)
            answer: dict[str, Any] = {"active": sha, "previous": None}
            changed = False
        elif is_stored(transport, self.device, sha):
            emit("install", "already stored; activating")
            self.fields["already_present"] = True
            answer = client.call("activate", sha)
            changed = True
        else:
            emit("push", f"sending {self.facts.size_bytes} bytes")
            pushed = push(
                transport,
                self.model,
                self.device.remote("inbox"),
                sha,
                progress=lambda tick: emit("push", "", tick),
                cancel=cancel,
            )
            self.fields["resumed_from"] = pushed.resumed_from
            _check_cancel(cancel, name)
            emit("install", "verifying and validating on the device")
            args = [pushed.remote_path, "--sha256", sha, "--name", self.model.name]
            if self.options.keep is not None:
                args += ["--keep", str(self.options.keep)]
            answer = client.call("install", *args, timeout=self.options.install_timeout)
            changed = bool(answer.get("activated", True))
        self.fields.update(active=answer.get("active"), previous=answer.get("previous"))
        if not self.options.gate:
            return self.result_of(Status.OK, f"{name}: {self._done_text(changed)}")
        return self._health_gate(client, emit, changed)

    def _health_gate(
        self, client: AgentClient, emit: Callable[..., None], changed: bool
    ) -> DeployResult:
        name, budget = self.device.name, self.options.max_p99_ms
        emit("bench", "measuring latency on the device")
        failure = None
        try:
            report = client.call("bench", *bench_args(self.options.bench_settings))
            self.fields["bench"] = deploylog.bench_summary(report)
            p99 = float(report.get("p99_ms", float("inf")))
            if budget is not None and p99 > budget:
                failure = f"p99 {p99:.3f} ms is over the budget of {budget:g} ms"
        except (AgentRefusal, TransportError) as exc:
            failure = f"the bench failed: {exc.message}"
        if failure is None:
            return self.result_of(Status.OK, f"{name}: {self._done_text(changed)}, health gate ok")
        if not changed or not self.fields.get("previous"):
            why = "it was already active" if not changed else "there is no previous model"
            return self.result_of(
                Status.FAILED, f"{name}: health gate failed: {failure}; not rolled back ({why})"
            )
        emit("rollback", failure)
        try:
            answer = client.call("rollback")
        except TfStudioError as exc:
            return self.result_of(
                Status.FAILED,
                f"{name}: health gate failed: {failure}; the rollback failed too: {exc.message}",
                hint=f"run: tfstudio rollback {name}",
            )
        self.fields.update(active=answer.get("active"), previous=answer.get("previous"))
        return self.result_of(
            Status.ROLLED_BACK,
            f"{name}: health gate failed: {failure}; rolled back to "
            f"{str(answer.get('active'))[:12]}",
        )

    def _done_text(self, changed: bool) -> str:
        if self.fields.get("already_present") and not changed:
            return "already active, nothing sent"
        return f"active {self.facts.sha256[:12]}"

    def result_of(self, status: Status, message: str, hint: str | None = None) -> DeployResult:
        """Returns the DeployResult with `status`, `message` and what was gathered so far."""
        return DeployResult(
            device=self.device.name,
            status=status,
            message=message,
            sha256=self.facts.sha256,
            hint=hint,
            **self.fields,
        )


def _check_cancel(cancel: threading.Event, name: str) -> None:
    if cancel.is_set():
        raise CancelledError(f"{name}: deploy cancelled")


def deploy_one(
    model: Path,
    facts: ModelFacts,
    device: Device,
    options: DeployOptions,
    *,
    connect: Connector | None = None,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
) -> DeployResult:
    """Deploys `model` to one device and returns its result (never raises TfStudioError).

    The result is also appended to the deploy log.
    """
    cancel = cancel or threading.Event()
    started = time.monotonic()
    run = _Run(model, facts, device, options)

    def emit(stage: str, message: str = "", tick: TransferProgress | None = None) -> None:
        if on_event is not None:
            on_event(DeployEvent(device.name, stage, message, tick))

    transport: Transport | None = None
    try:
        emit("connect", "connecting")
        if connect is not None:
            transport = connect(device)
        else:
            transport = open_transport(device, connect_timeout=options.connect_timeout)
        result = run.execute(transport, emit, cancel)
    except PreflightError as exc:
        result = run.result_of(Status.REFUSED, exc.message, exc.hint)
    except CancelledError as exc:
        result = run.result_of(Status.CANCELLED, exc.message)
    except TfStudioError as exc:
        result = run.result_of(Status.FAILED, _prefixed(device.name, exc.message), exc.hint)
    except Exception as exc:  # noqa: BLE001 - one device's bug must not stop the fleet
        result = run.result_of(Status.FAILED, f"{device.name}: {type(exc).__name__}: {exc}")
    finally:
        if transport is not None:
            result_bytes = transport.bytes_sent
            transport.close()
        else:
            result_bytes = 0
    result = _finish(result, result_bytes, time.monotonic() - started)
    emit("done", result.message)
    if result.status in (Status.OK, Status.ROLLED_BACK):
        deploylog.append_manifest_step(
            model,
            facts.sha256,
            {
                "device": device.name,
                "result": result.status.value,
                "active": result.active,
                "bench": result.bench,
            },
        )
    deploylog.append(
        {
            "device": device.name,
            "model": str(model.resolve()),
            "sha256": facts.sha256,
            "size_bytes": facts.size_bytes,
            "result": result.status.value,
            "message": result.message,
            "bytes_sent": result.bytes_sent,
            "active": result.active,
            "previous": result.previous,
            "bench": result.bench,
            "provenance": deploylog.provenance(model),
        }
    )
    return result


def _prefixed(name: str, message: str) -> str:
    return message if message.startswith(f"{name}:") else f"{name}: {message}"


def _finish(result: DeployResult, sent: int, duration: float) -> DeployResult:
    from dataclasses import replace

    return replace(result, bytes_sent=sent, duration_s=round(duration, 3))


def deploy_many(
    model: Path,
    facts: ModelFacts,
    devices: Sequence[Device],
    options: DeployOptions,
    *,
    connect: Connector | None = None,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
) -> list[DeployResult]:
    """Deploys to every device on a pool of `options.workers`; returns results in order."""
    cancel = cancel or threading.Event()
    workers = max(1, min(options.workers, len(devices)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploy") as pool:
        futures = [
            pool.submit(
                deploy_one,
                model,
                facts,
                device,
                options,
                connect=connect,
                on_event=on_event,
                cancel=cancel,
            )
            for device in devices
        ]
        return [f.result() for f in futures]
