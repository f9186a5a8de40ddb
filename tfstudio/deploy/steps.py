"""The steps of one device's deploy, in order, and the result that describes the device after.

connect and start the agent session → take the device lock (the agent sweeps
stale uploads first) → agent `info` → preflight (nothing sent yet; disk
counted for what the install needs, minus a resumable partial) → skip the
upload when the device already stores the sha256 → resumable upload into
`inbox/`, hashed by the agent as it arrives → `install` (the agent verifies
the digest it recorded, validates, stores by link, activates) → health gate
(bench and/or eval, in the runtime child the validation started; roll back
when one fails, p99 is over budget or accuracy is under the minimum) → prune
to `--keep`, only now that the new model passed → close the session (the lock
goes with it).

All of it is one agent process on the device (`DeviceSession`; one-shot
commands with an agent older than the session mode). Writes run through
`DeviceSession.write`: after a dropped link the deploy reconnects and
continues from what the device really did. Every result says what the device
runs at the end, or that it cannot be known.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_agent.tflite_schema import ModelFacts
from tfstudio.compat.proofs import Proof, ProofStore
from tfstudio.deploy import preflight
from tfstudio.deploy.options import DeployOptions, DeployResult, Status
from tfstudio.deploy.session import DeviceSession, StateUnknownError, WriteInterrupted
from tfstudio.errors import CancelledError, PreflightError, TfStudioError, TransportError
from tfstudio.fleet import deploylog
from tfstudio.fleet.agentcall import AgentRefusal, space_hint
from tfstudio.fleet.registry import Device
from tfstudio.measure.bench import bench_kwargs, is_stored
from tfstudio.operations import CancelToken, Reporter, Stage
from tfstudio.transport.base import Transport

WRITE_STAGES = frozenset({Stage.INSTALL, Stage.ROLLBACK, Stage.PRUNE})
"""Stages that change the device: a cancel waits for them instead of abandoning them."""


def _short(sha: str | None) -> str:
    return str(sha)[:12] if sha else "nothing"


class DeployRun:
    """One device's deploy: runs the steps and holds what the result will report."""

    def __init__(
        self,
        model: Path,
        facts: ModelFacts,
        device: Device,
        options: DeployOptions,
        connect: Callable[[Device], Transport],
        report: Reporter,
        cancel: CancelToken,
    ) -> None:
        self.model, self.facts, self.device, self.options = model, facts, device, options
        self.report = report
        self.cancel = cancel
        self.session = DeviceSession(device, connect, options.session_settings(), cancel)
        self.fields: dict[str, Any] = {}
        self.stage = Stage.QUEUED
        self.changed = False  # this deploy moved the device's active pointer
        self.remeasured = False  # the gate measured again after a dropped link
        self.models_after: int | None = None  # models stored once this one is in
        self.lock = threading.Lock()
        self.abandoned = False
        self.finished = False
        self.on_before: Callable[[str, str | None], None] | None = None
        """Told (device, active sha) once preflight passed, before anything is written: a
        rollout records it as the device's rollback target."""
        self.log_extra: dict[str, Any] = {}
        """Fields added to this device's deploy-log line (a rollout's id and wave)."""

    @property
    def name(self) -> str:
        """The device's name."""
        return self.device.name

    def step(self, stage: Stage, message: str = "") -> None:
        """Enters `stage` (and tells the caller)."""
        self.stage = stage
        self.report.stage(stage, message)

    # -- the steps ---------------------------------------------------------

    def execute(self) -> DeployResult:
        """Runs the deploy; returns its result (raises TfStudioError / CancelledError)."""
        sha, name, session = self.facts.sha256, self.name, self.session
        self._check_cancel()
        self.step(Stage.CONNECT, "connecting")
        session.open()
        self._check_cancel()
        self.step(Stage.LOCK)
        try:
            session.lock(sha, preflight.install_needs(self.facts, links=not session.oneshot))
        except AgentRefusal as exc:
            if exc.code == "disk_full":
                raise PreflightError(
                    f"{name}: refused before upload: the device's disk is full ({exc.message})",
                    hint=space_hint(name, session.known_info),
                ) from None
            raise
        self._check_cancel()
        self.step(Stage.PREFLIGHT, "asking the agent")
        info = session.info()
        active = (info.get("active") or {}).get("sha256")
        self.fields["active"] = active  # until this deploy changes it
        listed = info.get("stored_models")  # agents with the session mode list them
        if isinstance(listed, list):
            stored = active == sha or sha in listed
        else:
            stored = active == sha or is_stored(session.transport, self.device, sha)
        count = info.get("models_stored")
        self.models_after = count + (not stored) if isinstance(count, int) else None
        verdict = preflight.check(self.facts, info, name, stored=stored, proof=self._proof(info))
        self.fields["problems"] = tuple(p.to_json() for p in verdict.problems)
        self.fields["preflight"] = verdict.basis
        verdict.raise_if_refused()
        self._check_cancel()
        if self.on_before is not None:
            self.on_before(name, active)
        if active == sha:
            self.fields.update(already_present=True, active=sha, previous=None)
            return self._gate_and_prune()
        if stored:
            self.step(Stage.INSTALL, "already stored; activating")
            self.fields["already_present"] = True
            answer = self._write_model("activate", {"sha": sha})
        else:
            self.step(Stage.PUSH, f"sending {self.facts.size_bytes} bytes")
            pushed = session.upload(
                self.model,
                self.device.remote("inbox"),
                sha,
                info,
                progress=self.report.tick,
            )
            self.fields["resumed_from"] = pushed.resumed_from
            self._check_cancel()
            self.step(Stage.INSTALL, "verifying and validating on the device")
            args = {"sha256": sha, "name": self.model.name, "path": pushed.remote_path}
            answer = self._write_model("install", args)
        self.changed = bool(answer.get("activated", True))
        self.fields.update(active=answer.get("active"), previous=answer.get("previous"))
        return self._gate_and_prune()

    def _proof(self, info: dict[str, Any]) -> Proof | None:
        """The `compat` proof of this model on the device's exact runtime, if one was made."""
        runtime = info.get("runtime") or {}
        if not runtime.get("name") or not runtime.get("version"):
            return None
        return ProofStore().get(self.facts.sha256, str(runtime["name"]), str(runtime["version"]))

    def _write_model(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        """Installs or activates; after a dropped link, reads what the device did."""
        try:
            return self.session.write(command, args, timeout=self.options.install_timeout)
        except StateUnknownError as exc:
            self.fields["active"] = None  # unknown
            raise StateUnknownError(
                f"{exc.message}: the {command} of {_short(self.facts.sha256)} may have "
                "completed there",
                hint=exc.hint,
            ) from None
        except WriteInterrupted as exc:
            got = exc.recovered
            if got.active == self.facts.sha256:
                # Killed after the pointer moved, before its record: it is active.
                return {"active": got.active, "previous": got.previous, "activated": True}
            self.fields.update(active=got.active, previous=got.previous)
            how = "never started" if got.state == "unknown" else f"was {got.state}"
            raise TransportError(
                f"{self.name}: reconnected after {self.session.lost_how}: the {command} {how} "
                f"on the device, which still runs {_short(got.active)}",
                hint="deploy again: the upload resumes from what arrived",
            ) from None

    def _gate_and_prune(self) -> DeployResult:
        if self.options.gate:
            failure = self._health_gate()
            if failure is not None:
                return failure
        gate = ""
        if self.options.gate:
            again = " (measured again after the link dropped)" if self.remeasured else ""
            gate = f", health gate ok{again}"
        done = self._done_text() + gate
        notes = self._prune()
        return self.result_of(Status.OK, f"{self._head()}{done}{notes}")

    def _health_gate(self) -> DeployResult | None:
        """Benches (and evaluates) the active model; returns the failed/rolled-back result,
        or None when ok.

        A link that drops during the measurement says nothing about the model: the
        deploy reconnects and measures once more before it judges (a second drop is
        then the gate's failure, and the model is rolled back)."""
        head = self._head  # evaluated late: a reconnect may happen below
        self._check_cancel()
        try:
            failure = self._measure()
        except CancelledError:
            raise
        except TransportError as exc:
            try:
                self._reconnect_for("health gate", exc)
            except StateUnknownError as gone:
                return self._left_active(exc, gone)
            self.remeasured = True
            try:
                failure = self._measure()
            except CancelledError:
                raise
            except TransportError as again:
                failure = self._failed_step(again)
                try:
                    self._reconnect_for("rollback", again)
                except StateUnknownError as gone:
                    return self._left_active(again, gone)
            except AgentRefusal as refused:
                failure = self._failed_step(refused)
        except AgentRefusal as exc:
            failure = self._failed_step(exc)
        return self._judge(failure, head)

    def _measure(self) -> str | None:
        """Runs the gate's bench and eval; returns why the model fails it, or None."""
        budget = self.options.max_p99_ms
        if self.options.benches:
            self.step(Stage.BENCH, "measuring latency on the device")
            report = self.session.call(
                "bench",
                bench_kwargs(self.options.bench_settings),
                timeout=self.options.install_timeout,
            )
            self.fields["bench"] = deploylog.bench_summary(report)
            p99 = float(report.get("p99_ms", float("inf")))
            if budget is not None and p99 > budget:
                return f"p99 {p99:.3f} ms is over the budget of {budget:g} ms"
        if self.options.eval_gate is not None:
            return self._eval_gate()
        return None

    def _failed_step(self, exc: TfStudioError) -> str:
        return f"the {self.stage.value} failed: {exc.message.removeprefix(self.name + ': ')}"

    def _left_active(self, cause: TfStudioError, gone: StateUnknownError) -> DeployResult:
        """The link dropped during the gate and stayed away: the model is left active."""
        name = self.name
        return self.result_of(
            Status.FAILED,
            f"{self._head()}health gate failed: {self._failed_step(cause)}; the device "
            f"stayed out of reach, so it was not rolled back: {_short(self.facts.sha256)} "
            f"was left active ({gone.message.removeprefix(name + ': ')})",
            hint=f"when it is back: tfstudio rollback {name}",
        )

    def _judge(self, failure: str | None, head: Callable[[], str]) -> DeployResult | None:
        """Rolls back after a failed gate (when there is something to return to)."""
        name = self.name
        if failure is None:
            return None
        self.fields["gate_failure"] = failure
        if not self.changed:
            return self.result_of(
                Status.FAILED,
                f"{head()}health gate failed: {failure}; not rolled back (it was already active)",
            )
        if not self.fields.get("previous"):
            # The device's first model: rolling back would leave nothing to serve, so it
            # stays active, and the deploy fails (exit 1) saying so.
            return self.result_of(
                Status.FAILED,
                f"{head()}health gate failed: {failure}; {_short(self.facts.sha256)} stays "
                "active (the device's first model: there is no previous one to roll back to)",
                hint=f"deploy a model that passes the gate to {name}; until then it serves "
                "this one",
            )
        self.step(Stage.ROLLBACK, failure)
        try:
            answer = self.session.write("rollback", {}, timeout=self.options.install_timeout)
        except WriteInterrupted as exc:
            answer = {"active": exc.recovered.active, "previous": exc.recovered.previous}
        except TfStudioError as exc:
            return self.result_of(
                Status.FAILED,
                f"{head()}health gate failed: {failure}; the rollback failed too: "
                f"{exc.message.removeprefix(name + ': ')}",
                hint=f"run: tfstudio rollback {name}",
            )
        self.fields.update(active=answer.get("active"), previous=answer.get("previous"))
        if answer.get("active") == self.facts.sha256:
            return self.result_of(
                Status.FAILED,
                f"{head()}health gate failed: {failure}; the rollback did not happen: "
                f"{_short(self.facts.sha256)} is still active",
                hint=f"run: tfstudio rollback {name}",
            )
        self.changed = False
        return self.result_of(
            Status.ROLLED_BACK,
            f"{head()}health gate failed: {failure}; rolled back to {_short(answer.get('active'))}",
        )

    def _eval_gate(self) -> str | None:
        """The gate's eval step (`measure.evalgate`); returns why it failed, or None."""
        from tfstudio.deploy.evalgate import gate_eval

        assert self.options.eval_gate is not None
        self.step(Stage.EVAL, "evaluating on the device")
        summary, failure = gate_eval(
            self.device,
            self.session.transport,
            self.model,
            self.options.eval_gate,
            progress=self.report.tick,
            cancel=self.cancel,
            call=lambda command, args, timeout: self.session.call(command, args, timeout=timeout),
            model_ref=self.facts.sha256,
        )
        self.fields["eval"] = summary
        return failure

    def _reconnect_for(self, doing: str, cause: TransportError) -> None:
        """After the link dropped outside a write: connect again for what comes next."""
        self.session.close()
        self.session.reconnect(cause, doing)  # StateUnknownError when it stays away
        self.fields["reconnected"] = True

    def _prune(self) -> str:
        """Prunes to --keep now that the new model passed; returns a note for the message."""
        keep = self.options.keep
        if keep is None or not self.changed:
            return ""
        if self.models_after is not None and self.models_after <= keep:
            return ""  # nothing to remove: spare the device an agent process
        self.step(Stage.PRUNE, f"keeping {keep} stored models (and the rollback target)")
        try:
            answer = self.session.write(
                "prune", {"keep": keep}, timeout=self.options.install_timeout
            )
        except TfStudioError as exc:
            return f"; pruning failed: {exc.message.removeprefix(self.name + ': ')}"
        removed = tuple(answer.get("removed") or ())
        self.fields["pruned"] = removed
        return f", pruned {len(removed)}" if removed else ""

    def _head(self) -> str:
        """`name: ` and, after a dropped link, what the deploy did about it."""
        if self.session.reconnected or self.fields.get("reconnected"):
            return f"{self.name}: reconnected after {self.session.lost_how}; "
        return f"{self.name}: "

    def _done_text(self) -> str:
        if self.fields.get("already_present") and not self.changed:
            return "already active, nothing sent"
        return f"active {_short(self.facts.sha256)}"

    # -- cancel and results ------------------------------------------------

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise CancelledError(self.cancelled_message())

    def cancelled_message(self) -> str:
        """Says what the device runs after a cancel at the current stage."""
        if self.stage in WRITE_STAGES:
            return (
                f"{self.name}: deploy abandoned during {self.stage.value}: "
                "the device may still finish it"
            )
        if self.changed:
            return (
                f"{self.name}: deploy cancelled after the install: {_short(self.facts.sha256)} "
                "is active, health gate not run"
            )
        resumes = " (the upload resumes next time)" if self.stage is Stage.PUSH else ""
        return f"{self.name}: deploy cancelled; the device is unchanged{resumes}"

    def cancelled_result(self) -> DeployResult:
        """The result of a deploy cancelled (or abandoned) at its current stage."""
        hint = None
        if self.stage in WRITE_STAGES:
            hint = f"check it: tfstudio models --on {self.name}"
        elif self.changed and self.fields.get("previous"):
            hint = f"to go back: tfstudio rollback {self.name}"
        return self.result_of(Status.CANCELLED, self.cancelled_message(), hint)

    def result_of(self, status: Status, message: str, hint: str | None = None) -> DeployResult:
        """Returns the DeployResult with `status`, `message` and what was gathered so far."""
        return DeployResult(
            device=self.name,
            status=status,
            message=message,
            sha256=self.facts.sha256,
            hint=hint,
            **{k: v for k, v in self.fields.items() if k != "reconnected"},
            reconnected=self.session.reconnected or bool(self.fields.get("reconnected")),
        )
