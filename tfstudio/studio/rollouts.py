"""The rollouts part of the facade: plan waves, run a staged rollout, resume one, list them.

`Studio` inherits it. A rollout is the deploy of one model to a selection of
devices in waves (`tfstudio.deploy.rollout`); its record lives in the deploy log
(`tfstudio.deploy.rolloutlog`), so `rollouts`, `--resume` and `report` read the
same thing from either front end. The options a rollout ran with (gates, bench,
keep, workers, eval data) are recorded, and a resume runs with them unless told
otherwise; the deadlines come from the config of the studio that runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.operations import CancelToken, EventCallback, Throttle
from tfstudio.studio.measuring import MeasureOps

if TYPE_CHECKING:
    from tfstudio.deploy.options import DeployOptions
    from tfstudio.deploy.rollout import RolloutResult, WaveGates
    from tfstudio.deploy.rolloutlog import RolloutRecord

RECORDED = ("bench", "max_p99_ms", "keep", "workers")
"""DeployOptions fields a rollout records (and a resume reuses)."""

SOAK_CHANGES = (
    ("soak_s", "seconds"),
    ("max_error_rate", "max_error_rate"),
    ("max_request_p99_ms", "max_p99_ms"),
)
"""A resume's soak changes and the SoakGate fields they set."""


class RolloutOps(MeasureOps):
    """Staged rollouts, for any front end."""

    def rollout_plan(
        self,
        selector: str,
        waves: str,
        *,
        seed: int = 0,
        canaries: Sequence[str] = (),
    ) -> list[list[str]]:
        """Returns the device names of each wave, in order (nothing is deployed).

        Raises DeviceError (the selector), UsageError (bad --waves or canary).
        """
        from tfstudio.deploy.waves import plan

        names = [d.name for d in self.resolve(selector)]
        return plan(names, waves, seed, canaries)

    def rollout(
        self,
        model: str | Path,
        selector: str,
        waves: str,
        options: DeployOptions,
        gates: WaveGates,
        *,
        seed: int = 0,
        canaries: Sequence[str] = (),
        eval_source: dict[str, Any] | None = None,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> RolloutResult:
        """Rolls `model` out to the devices `selector` picks, wave by wave (see
        `tfstudio.deploy.rollout`); returns how it ended: done, halted (which gate, on
        which devices) or interrupted. The rollout is recorded in the deploy log.

        `eval_source` ({"data", "min_accuracy", "reference"}) is what built
        `options.eval_gate`, recorded so that a resume can build it again. Raises
        ModelFormatError, DeviceError, UsageError before anything is deployed.
        """
        from tfstudio.deploy.rollout import Rollout
        from tfstudio.deploy.rolloutlog import RolloutRecord, new_id, runner

        path = Path(model)
        facts = self.inspect(path)
        plan = self.rollout_plan(selector, waves, seed=seed, canaries=canaries)
        record = RolloutRecord(new_id())
        recorded = {k: getattr(options, k) for k in RECORDED}
        recorded["bench_settings"] = asdict(options.bench_settings)
        recorded["eval"] = eval_source
        recorded["gates"] = gates.to_json()
        cancel = cancel or CancelToken()
        with record.held():
            record.emit(
                "start",
                model=str(path.resolve()),
                sha256=facts.sha256,
                size_bytes=facts.size_bytes,
                selector=selector,
                seed=seed,
                canaries=list(canaries),
                waves_spec=waves,
                waves=plan,
                options=recorded,
                **runner(),
            )
            return Rollout(
                record, path, facts, options, gates, self.connector, Throttle(on_event), cancel
            ).run()

    def resume_rollout(
        self,
        rollout_id: str,
        *,
        changes: dict[str, Any] | None = None,
        on_event: EventCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> RolloutResult:
        """Continues a halted or interrupted rollout from its first wave that has not
        passed (that wave starts again), with the recorded options updated by `changes`
        (any of bench, max_p99_ms, keep, workers, max_failures, soak_s (0: no soak),
        max_error_rate, max_request_p99_ms, eval: {"data", "min_accuracy", "reference"},
        min_accuracy alone: on the recorded eval data).

        Raises UsageError (unknown id), RolloutError (done already, or running
        elsewhere), ModelFormatError (the model file changed since: its sha256 differs).
        """
        from tfstudio.deploy.rollout import Rollout, WaveGates
        from tfstudio.deploy.rolloutlog import RolloutRecord, runner
        from tfstudio.errors import RolloutError, UsageError

        record = RolloutRecord.load(rollout_id)
        if record.state == "done":
            raise RolloutError(f"rollout {record.id} is done: every wave passed")
        path = Path(record.model)
        facts = self.inspect(path)
        if facts.sha256 != record.sha256:
            raise RolloutError(
                f"{path} is not the model rollout {record.id} started with (sha256 "
                f"{facts.sha256[:12]}, not {record.sha256[:12]})",
                hint="start a new rollout for the new model",
            )
        changed = dict(changes or {})
        gates_json = dict(record.options.get("gates") or {})
        soak_json = dict(gates_json.get("soak") or {})
        for key, name in SOAK_CHANGES:
            if key in changed:
                soak_json[name] = changed.pop(key)
        if soak_json and not soak_json.get("seconds"):
            if len(soak_json) > 1:
                raise UsageError(
                    "--max-error-rate and --max-request-p99-ms need --soak TIME",
                    hint="this rollout has no soak; add --soak 60s",
                )
            soak_json = {}
        if "max_failures" in changed:
            gates_json["max_failures"] = changed.pop("max_failures")
        if "min_accuracy" in changed:
            evaluation = changed.get("eval") or record.options.get("eval")
            if not evaluation:
                raise UsageError(
                    "--min-accuracy needs eval data: this rollout has none",
                    hint="add --eval-data DATA.npz",
                )
            changed["eval"] = {**evaluation, "min_accuracy": changed.pop("min_accuracy")}
        gates_json["soak"] = soak_json or None
        if gates_json != record.options.get("gates"):
            changed["gates"] = gates_json
        merged = {**record.options, **changed}
        options = self._recorded_options(path, merged)
        gates = WaveGates.from_json(gates_json)
        cancel = cancel or CancelToken()
        with record.held():
            record = RolloutRecord.load(record.id)  # what the log says now that we hold it
            if record.state == "done":
                raise RolloutError(f"rollout {record.id} is done: every wave passed")
            record.emit("resume", options=changed, **runner())
            return Rollout(
                record, path, facts, options, gates, self.connector, Throttle(on_event), cancel
            ).run()

    def _recorded_options(self, model: Path, recorded: dict[str, Any]) -> DeployOptions:
        evaluation = recorded.get("eval")
        gate = None
        if evaluation:
            gate = self.eval_gate(
                model,
                evaluation["data"],
                min_accuracy=evaluation.get("min_accuracy"),
                reference=evaluation.get("reference"),
            )
        return self.deploy_options(  # type: ignore[attr-defined]
            **{k: recorded.get(k) for k in RECORDED},
            bench_settings=_bench_settings(recorded.get("bench_settings") or {}),
            eval_gate=gate,
        )

    def rollouts(self) -> list[RolloutRecord]:
        """Returns every recorded rollout, newest first."""
        from tfstudio.deploy.rolloutlog import list_rollouts

        return list(reversed(list_rollouts()))

    def rollout_record(self, rollout_id: str) -> RolloutRecord:
        """Returns one rollout's record (an id or a unique prefix). Raises UsageError."""
        from tfstudio.deploy.rolloutlog import RolloutRecord

        return RolloutRecord.load(rollout_id)


def _bench_settings(data: dict[str, Any]) -> Any:
    from tfstudio.measure.bench import BenchSettings

    return BenchSettings(**{**data, "thread_counts": tuple(data.get("thread_counts") or ())})
