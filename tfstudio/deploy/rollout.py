"""Staged rollouts: a model deployed wave by wave, each wave gated, a failing wave rolled back.

`run_rollout` takes a record (`tfstudio.deploy.rolloutlog`: new, or loaded to
resume) and runs every wave that has not passed, in order:

1. deploy: the wave's devices through `deploy_many` (the device-level health
   gates included: p99 budget, on-device accuracy), `options.workers` at once;
   each device's model before the rollout is recorded before anything is
   written there, and each result as it ends;
2. gate: the devices that did not end with the model (refused, failed, rolled
   back by their own gate) count against `max_failures`;
3. soak (`WaveGates.soak`): the live error rate and request p99 of the wave's
   devices over a while, from the agent service's telemetry (`soak`); a device
   over a limit counts as failed too;
4. verdict: more failures than allowed halts the rollout: every device of the
   wave that runs the model goes back to the model it ran before (later waves
   are never touched) and the record says which gate failed on which devices.
   Within the allowance, the wave passes; a device that failed its soak is
   still rolled back alone.

Ctrl-C (or `cancel`) during a wave stops it at the devices' next safe step and
rolls back what the wave changed (a second Ctrl-C leaves that undone): a wave is
never left half gated. A resume (or a run after a kill) deploys the unfinished
wave again from its start: devices already on the model are checked and gated
again, not sent it again. Events: operation "deploy" per device (as any
deploy), and operation "rollout" with target "wave N" (StageStarted for deploy,
soak, gate, rollback; TargetFinished with the wave's verdict).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_agent.tflite_schema import ModelFacts
from tfstudio.deploy.options import DeployOptions, DeployResult, Status
from tfstudio.deploy.rolloutlog import PASSED, RolloutRecord, WaveRecord
from tfstudio.deploy.run import deploy_many
from tfstudio.deploy.soak import DeviceSoak, SoakGate, soak
from tfstudio.errors import CancelledError, TfStudioError
from tfstudio.fleet import deploylog, fanout, registry
from tfstudio.fleet.registry import Device
from tfstudio.operations import CancelToken, Event, EventCallback, Reporter, Stage, TargetFinished
from tfstudio.transport.base import Transport

OPERATION = "rollout"


@dataclass(frozen=True)
class WaveGates:
    """The gates a whole wave must pass (beyond each device's own)."""

    max_failures: int = 0
    soak: SoakGate | None = None

    def to_json(self) -> dict[str, Any]:
        """Returns the gates as recorded."""
        return {
            "max_failures": self.max_failures,
            "soak": self.soak.to_json() if self.soak else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WaveGates:
        """Returns the gates a record holds."""
        soaking = data.get("soak")
        return cls(int(data.get("max_failures") or 0), SoakGate(**soaking) if soaking else None)


@dataclass(frozen=True)
class RolloutResult:
    """How a rollout run ended: the record as it stands (state, waves, devices)."""

    id: str
    state: str
    record: dict[str, Any]

    @property
    def ok(self) -> bool:
        """True when every wave passed."""
        return self.state == "done"

    @property
    def halted(self) -> dict[str, Any] | None:
        """Which wave halted, on which gate and devices (None unless halted/interrupted)."""
        return self.record.get("halted")

    def to_json(self) -> dict[str, Any]:
        """Returns the record (as `tfstudio rollouts ID --json` shows it)."""
        return self.record


def _short(sha: str | None) -> str:
    return str(sha)[:12] if sha else "nothing"


class Rollout:
    """One run of a rollout over its remaining waves."""

    def __init__(
        self,
        record: RolloutRecord,
        model: Path,
        facts: ModelFacts,
        options: DeployOptions,
        gates: WaveGates,
        connect: Callable[[Device], Transport],
        on_event: EventCallback | None,
        cancel: CancelToken,
    ) -> None:
        self.record, self.model, self.facts = record, model, facts
        self.options, self.gates = options, gates
        self.connect, self.on_event, self.cancel = connect, on_event, cancel

    # -- the run ------------------------------------------------------------------

    def run(self) -> RolloutResult:
        """Runs the waves not yet passed; returns how it ended (never raises for a device)."""
        record = self.record
        total = len(record.waves)
        for wave in record.waves:
            if wave.state == PASSED:
                continue
            try:
                verdict = self._wave(wave, total)
            except KeyboardInterrupt:  # between two safe points of the wave
                self.cancel.set()
                verdict = self._interrupted(wave, self._report(wave), time.monotonic())
            if verdict == "interrupted":
                record.emit(
                    "end",
                    state="interrupted",
                    halted={"wave": wave.index, "gate": "interrupted", "devices": {},
                            "reason": f"interrupted during wave {wave.index}"},
                )  # fmt: skip
                break
            if verdict != PASSED:
                record.emit("end", state="halted", halted=self._halted(wave))
                break
        else:
            record.emit("end", state="done")
        return RolloutResult(record.id, record.state, record.to_json())

    def _report(self, wave: WaveRecord) -> Reporter:
        return Reporter(OPERATION, f"wave {wave.index}", self.on_event)

    def _wave(self, wave: WaveRecord, total: int) -> str:
        """Deploys, gates and soaks one wave; returns passed, failed or interrupted."""
        record, report = self.record, self._report(wave)
        count = len(wave.devices)
        started = time.monotonic()
        record.emit("wave", wave=wave.index, state="deploying")
        report.stage(Stage.DEPLOY, f"deploying to {count} device{'s' * (count != 1)}: "
                     f"{', '.join(wave.devices)}", wave.index, total)  # fmt: skip
        if self.cancel.is_set():
            return self._interrupted(wave, report, started)
        devices, missing = self._devices(wave)
        results = deploy_many(
            self.model,
            self.facts,
            devices,
            self.options,
            connect=self.connect,
            on_event=self._listen,
            cancel=self.cancel,
            on_before=lambda name, active: record.emit("before", device=name, before=active),
            log_extra={"rollout": record.id, "wave": wave.index},
        )
        deploy_s = round(time.monotonic() - started, 3)
        for name, message in missing:
            record.emit("device", device=name, status="failed", message=message)
        if self.cancel.is_set() or any(r.status is Status.CANCELLED for r in results):
            return self._interrupted(wave, report, started)
        failures = [self._failure(r) for r in results if not r.ok]
        failures += [{"device": n, "gate": "device", "reason": m} for n, m in missing]
        soaked: list[DeviceSoak] = []
        soak_s = 0.0
        allowed = self.gates.max_failures
        if self.gates.soak is not None and len(failures) <= allowed:
            ok_devices = [d for d, r in zip(devices, results) if r.ok]
            record.emit("wave", wave=wave.index, state="soaking", timing={"deploy_s": deploy_s})
            soak_started = time.monotonic()
            try:
                soaked = self._soak(wave, ok_devices, report, total)
            except CancelledError:
                return self._interrupted(wave, report, started)
            soak_s = round(time.monotonic() - soak_started, 3)
            failures += [
                {"device": s.device, "gate": "soak", "reason": s.failure}
                for s in soaked
                if s.failure
            ]
        timing = {"deploy_s": deploy_s, **({"soak_s": soak_s} if soaked else {})}
        figures = [s.to_json() for s in soaked]
        if len(failures) > allowed:
            report.stage(Stage.ROLLBACK, self._verdict_text(wave, failures), wave.index, total)
            record.emit("wave", wave=wave.index, state="rolling_back", failures=failures,
                        timing=timing, soak=figures)  # fmt: skip
            rollback_started = time.monotonic()
            self._roll_back(wave.devices)
            timing["rollback_s"] = round(time.monotonic() - rollback_started, 3)
            record.emit("wave", wave=wave.index, state="failed", timing=timing,
                        detail=self._verdict_text(wave, failures))  # fmt: skip
            report.finished(False, self._verdict_text(wave, failures), asdict(wave))
            return "failed"
        soak_failed = [f["device"] for f in failures if f["gate"] == "soak"]
        if soak_failed:
            self._roll_back(soak_failed)
        text = f"passed: {count - len(failures)} of {count} devices run {_short(self.facts.sha256)}"
        if failures:
            text += f" ({len(failures)} failed, at most {allowed} allowed)"
        record.emit("wave", wave=wave.index, state=PASSED, failures=failures, timing=timing,
                    soak=figures, detail=text)  # fmt: skip
        report.stage(Stage.GATE, text, wave.index, total)
        report.finished(True, text, asdict(wave))
        return PASSED

    def _devices(self, wave: WaveRecord) -> tuple[list[Device], list[tuple[str, str]]]:
        """The wave's devices from the registry now, and those that are gone from it."""
        found, missing = [], []
        for name in wave.devices:
            try:
                found.append(registry.get_device(name))
            except TfStudioError as exc:
                missing.append((name, exc.message))
        return found, missing

    def _listen(self, event: Event) -> None:
        """Records each device's result as it ends, then passes the event on."""
        if isinstance(event, TargetFinished) and event.operation == "deploy" and event.target:
            data = event.data
            self.record.emit(
                "device",
                device=event.target,
                status=data.get("status"),
                message=data.get("message"),
                active=data.get("active"),
                bench=data.get("bench"),
                eval=data.get("eval"),
            )
        if self.on_event is not None:
            self.on_event(event)

    @staticmethod
    def _failure(result: DeployResult) -> dict[str, Any]:
        gate = {
            Status.REFUSED: "preflight",
            Status.ROLLED_BACK: "health",
            Status.CANCELLED: "cancelled",
        }.get(result.status, "health" if result.gate_failure else "deploy")
        return {
            "device": result.device,
            "gate": gate,
            "reason": result.message.removeprefix(f"{result.device}: "),
        }

    def _soak(
        self, wave: WaveRecord, devices: list[Device], report: Reporter, total: int
    ) -> list[DeviceSoak]:
        gate = self.gates.soak
        assert gate is not None

        def progress(elapsed: float, figures: list[DeviceSoak]) -> None:
            report.stage(Stage.SOAK, f"soaking {elapsed:.0f}/{gate.seconds:g} s: "
                         + _soak_text(figures), wave.index, total)  # fmt: skip

        report.stage(Stage.SOAK, f"soaking {gate.seconds:g} s on {len(devices)} devices",
                     wave.index, total)  # fmt: skip
        try:
            return soak(
                devices, gate, self.connect, cancel=self.cancel, progress=progress,
                workers=self.options.workers,
            )  # fmt: skip
        except KeyboardInterrupt:
            self.cancel.set()
            raise CancelledError("soak interrupted") from None

    def _interrupted(self, wave: WaveRecord, report: Reporter, started: float) -> str:
        """A cancel (Ctrl-C) during a wave: roll back what it changed, record it."""
        report.stage(Stage.ROLLBACK, "interrupted: rolling back the devices this wave changed "
                     "(Ctrl-C again to leave them)")  # fmt: skip
        self.record.emit("wave", wave=wave.index, state="rolling_back")
        self._roll_back(wave.devices)
        self.record.emit(
            "wave", wave=wave.index, state="interrupted",
            timing={"deploy_s": round(time.monotonic() - started, 3)},
            detail="interrupted: rolled back; a resume starts this wave again",
        )  # fmt: skip
        report.finished(False, f"wave {wave.index} interrupted and rolled back", asdict(wave))
        return "interrupted"

    # -- rollback -----------------------------------------------------------------

    def _roll_back(self, names: list[str]) -> None:
        """Puts every device of `names` that runs the new model back on its model from
        before the rollout, at once (Ctrl-C twice leaves the rest as they are)."""
        sha = self.facts.sha256
        targets = []
        for name in names:
            known = self.record.devices.get(name)
            if known is None or not known.before_known or known.rolled_back:
                continue  # never reached (nothing changed), or its own gate rolled it back
            if known.active not in (sha, None) or known.before == sha:
                continue  # it does not run the new model, or ran it before the rollout
            targets.append(name)
        if not targets:
            return
        cancel = CancelToken()
        fanout.run_all(
            targets,
            lambda i, name: self._roll_back_one(name),
            workers=self.options.workers,
            cancel=cancel,
            abandon=lambda i, name: self.record.emit(
                "rollback", device=name, ok=False, message=f"{name}: rollback abandoned"
            ),
            # a Ctrl-C that interrupted the wave was the first: the next one leaves them
            may_abandon=lambda i: self.cancel.is_set(),
            name="rollback",
        )

    def _roll_back_one(self, name: str) -> None:
        from tfstudio.deploy.session import DeviceSession

        known = self.record.devices[name]
        report = Reporter("deploy", name, self.on_event)
        before = known.before
        if before is None:
            self.record.emit(
                "rollback", device=name, ok=False,
                message=f"{name}: nothing was active before the rollout; it keeps "
                        f"{_short(self.facts.sha256)}",
            )  # fmt: skip
            return
        report.stage(Stage.ROLLBACK, f"back to {_short(before)}")
        session = DeviceSession(
            registry.get_device(name), self.connect, self.options.session_settings(), CancelToken()
        )
        try:
            session.open()
            session.lock(None, 0)
            answer = session.write(
                "activate", {"sha": before}, timeout=self.options.install_timeout
            )
            active = answer.get("active")
            ok = active == before
            message = f"{name}: rolled back to {_short(active)}"
        except TfStudioError as exc:
            active, ok = None, False
            message = f"{name}: the rollback failed: {exc.message.removeprefix(name + ': ')}"
        finally:
            session.close()
        self.record.emit("rollback", device=name, ok=ok, active=active, message=message)
        if ok:  # what the device runs now, for the dashboard and the report
            deploylog.append(
                {
                    "device": name,
                    "result": "rollout_rollback",
                    "sha256": active,
                    "active": active,
                    "previous": self.facts.sha256,
                    "message": message,
                    "rollout": self.record.id,
                    "wave": known.wave,
                }
            )
        Reporter(OPERATION, name, self.on_event).finished(ok, message, {"active": active})

    # -- texts --------------------------------------------------------------------

    def _verdict_text(self, wave: WaveRecord, failures: list[dict[str, Any]]) -> str:
        allowed = self.gates.max_failures
        head = (
            f"failed: {len(failures)} of {len(wave.devices)} devices failed "
            f"(at most {allowed} allowed); rolling the wave back"
        )
        return (
            head + ": " + "; ".join(f"{f['device']}: {f['gate']}: {f['reason']}" for f in failures)
        )

    def _halted(self, wave: WaveRecord) -> dict[str, Any]:
        failures = self.record.waves[wave.index - 1].failures
        gates = sorted({f["gate"] for f in failures})
        return {
            "wave": wave.index,
            "gate": "max-failures",
            "gates": gates,
            "failed": len(failures),
            "allowed": self.gates.max_failures,
            "devices": {f["device"]: f"{f['gate']}: {f['reason']}" for f in failures},
            "reason": f"wave {wave.index}: {len(failures)} device{'s' * (len(failures) != 1)} "
            f"failed ({', '.join(gates)}), at most {self.gates.max_failures} allowed",
        }


def _soak_text(figures: list[DeviceSoak]) -> str:
    served = [f for f in figures if f.served]
    requests = sum(f.requests for f in served)
    errors = sum(f.errors for f in served)
    worst = max((f.p99_ms for f in served if f.p99_ms is not None), default=None)
    rate = f"{errors / requests:.1%}" if requests else "-"
    p99 = f"{worst:.2f} ms" if worst is not None else "-"
    return f"{len(served)} served, {requests} requests, errors {rate}, worst p99 {p99}" + (
        f", {sum(bool(f.failure) for f in figures)} over a limit"
        if any(f.failure for f in figures)
        else ""
    )
