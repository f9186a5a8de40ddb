"""One export through the pipeline: convert, evaluate, deploy (+ bench and gate).

Each step goes through the Studio facade, so it is the same code as
`tfstudio convert` and `tfstudio deploy`: conversion in a child process (a
native crash is one failed step), deploy's preflight → push → validate →
activate → gate → rollback per device. Before anything runs, the export's
logged state is read: steps with a final outcome are not redone (a variant
already converted is reused when its file is still there with its sha256),
steps cut short or failed are. One step's failure is logged and the others
go on; only a cancel stops the export (its started steps are resumed later).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.digest import file_sha256
from tfstudio.errors import CancelledError, TfStudioError
from tfstudio.operations import CancelToken
from tfstudio.workflows.pipeline import chain as C
from tfstudio.workflows.pipeline import journal
from tfstudio.workflows.pipeline.events import (
    CANCELLED,
    FAILED,
    OK,
    PROGRESS,
    SKIPPED,
    STARTED,
    PipelineEvent,
)
from tfstudio.workflows.pipeline.settings import PipelineSettings

if TYPE_CHECKING:
    from tfstudio.convert.result import ConversionResult
    from tfstudio.fleet.registry import Device
    from tfstudio.studio import Studio

Emit = Callable[[PipelineEvent], None]

EVAL_SHOWN = ("accuracy", "top1_agreement", "max_abs_error")
"""The metrics an evaluate event's line names (all of them are in its data)."""

_DEPLOY_STATUS = {
    "ok": OK,
    "refused": "refused",
    "rolled_back": "rolled_back",
    "failed": FAILED,
    "cancelled": CANCELLED,
}


class ExportRun:
    """Runs (or resumes) the pipeline for one settled export; `run()` never raises but Cancelled."""

    def __init__(
        self,
        studio: Studio,
        settings: PipelineSettings,
        model: Path,
        sha256: str,
        devices: Sequence[Device],
        emit: Emit,
        cancel: CancelToken,
    ) -> None:
        self.studio = studio
        self.settings = settings
        self.model = model
        self.sha256 = sha256
        self.devices = list(devices)
        self._emit = emit
        self.cancel = cancel
        self.name = C.export_name(settings.root, model)
        self.state = journal.load_state(sha256)
        self.chain: dict[str, Any] = C.base_chain(None, model, sha256, self.name)
        self.failures: list[str] = []

    def emit(self, step: str, status: str, message: str = "", **extra: Any) -> None:
        """Logs and reports one event of this export."""
        self._emit(
            PipelineEvent(
                step,
                status,
                message,
                export=self.sha256,
                path=str(self.model),
                target=str(extra.pop("target", "")),
                chain=extra.pop("chain", self.chain),
                data=extra.pop("data", {}),
            )
        )

    def required(self) -> list[str]:
        """Returns the step keys this export needs under the current settings."""
        keys = [f"convert:{m}" for m in self.settings.modes]
        if self.settings.eval_data is not None:
            keys += [f"evaluate:{m}" for m in self.settings.modes]
        keys += [f"deploy:{m}:{d.name}" for m in self.settings.modes for d in self.devices]
        return keys

    def done(self) -> bool:
        """True when the log holds a final outcome for every required step."""
        return all(self.state.final(key) for key in self.required())

    def run(self) -> bool:
        """Runs the export's remaining steps; returns True when all of them ended OK.

        Raises CancelledError when the pipeline is stopped meanwhile.
        """
        if self.done():
            self.emit(
                "export", SKIPPED, "already done (same content hash)", data={"name": self.name}
            )
            return True
        cut = self.state.cut_short()
        left = [k for k in self.required() if not self.state.final(k)]
        if cut:
            message = f"resuming ({', '.join(cut)} cut short)"
        elif self.state.outcomes:
            message = f"retrying ({', '.join(left)} not done)"
        else:
            message = "new export"
        self.emit("export", STARTED, message, data={"name": self.name})
        self.chain = C.base_chain(
            C.training_link(self.studio, self.model, self.sha256),
            self.model,
            self.sha256,
            self.name,
        )
        variants = self.convert()
        self.evaluate(variants)
        if self.devices:
            for mode, variant in variants.items():
                self.deploy(mode, variant)
        if self.failures:
            self.emit("export", FAILED, f"{len(self.failures)} step(s) failed: {self.failures[0]}")
            return False
        self.emit("export", OK, f"{len(variants)} variant(s), {len(self.devices)} device(s)")
        return True

    # -- convert ------------------------------------------------------------

    def convert(self) -> dict[str, dict[str, Any]]:
        """Converts the modes not yet converted; returns mode → variant, in the settings' order."""
        ready: dict[str, dict[str, Any]] = {}
        todo = []
        for mode in self.settings.modes:
            kept = self.state.variants.get(mode)
            if self.state.final(f"convert:{mode}") and kept and _intact(kept):
                ready[mode] = kept
            else:
                todo.append(mode)
        if todo:
            ready.update(self._convert(todo))
        return {m: ready[m] for m in self.settings.modes if m in ready}

    def _convert(self, modes: list[str]) -> dict[str, dict[str, Any]]:
        from tfstudio.convert.result import ModesFailedError

        for mode in modes:
            self.emit("convert", STARTED, f"converting {mode}", target=mode)
        self._check_cancel()
        result: ConversionResult | None = None
        try:
            result = self.studio.convert(
                self.model,
                self.outdir(),
                modes,
                rep_data=self.settings.rep_data,
                eval_data=self.settings.eval_data,
                cancel=self.cancel,
            )
        except ModesFailedError as exc:
            result = exc.result
        except CancelledError:
            raise
        except TfStudioError as exc:
            for mode in modes:
                self._fail("convert", mode, exc.message)
            return {}
        except Exception as exc:  # noqa: BLE001 - a bug in one export must not stop the watcher
            for mode in modes:
                self._fail("convert", mode, f"{type(exc).__name__}: {exc}")
            return {}
        done: dict[str, dict[str, Any]] = {}
        for v in result.variants:
            variant = {
                "path": str(v.path),
                "manifest": str(v.manifest_path),
                "sha256": v.facts.sha256,
                "size_bytes": v.size_bytes,
                "min_runtime_version": (v.facts.min_runtime_version or None),
                "metrics": v.metrics,
            }
            done[v.mode] = variant
            self.emit(
                "convert",
                OK,
                f"{Path(v.path).name} ({v.size_bytes} bytes)",
                target=v.mode,
                chain=C.with_variant(self.chain, v.mode, variant),
                data=variant,
            )
        for failed in result.failures:
            self._fail("convert", failed.mode, failed.error.message)
        return done

    def outdir(self) -> Path:
        """Returns where this export's variants are written (by name and content hash)."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", self.name).strip("-.") or "model"
        return journal.pipeline_dir() / "models" / f"{safe}-{self.sha256[:12]}"

    # -- evaluate -----------------------------------------------------------

    def evaluate(self, variants: dict[str, dict[str, Any]]) -> None:
        """Logs each variant's accuracy on the eval data (measured during conversion)."""
        if self.settings.eval_data is None:
            return
        for mode, variant in variants.items():
            if self.state.final(f"evaluate:{mode}"):
                continue
            metrics = variant.get("metrics") or {}
            chain = C.with_variant(self.chain, mode, variant)
            if metrics.get("accuracy") is None and not metrics:
                self._fail("evaluate", mode, f"{mode}: no accuracy was measured", chain=chain)
                continue
            shown = [k for k in EVAL_SHOWN if _scalar(metrics.get(k))] or [
                k for k, v in metrics.items() if _scalar(v)
            ]
            text = ", ".join(f"{k} {_short(metrics[k])}" for k in shown)
            self.emit("evaluate", OK, text, target=mode, chain=chain, data=metrics)

    # -- deploy -------------------------------------------------------------

    def deploy(self, mode: str, variant: dict[str, Any]) -> None:
        """Deploys one variant to the devices that have no final outcome for it yet."""
        chain = C.with_variant(self.chain, mode, variant)
        pending = [d for d in self.devices if not self.state.final(f"deploy:{mode}:{d.name}")]
        if not pending:
            return
        self._check_cancel()
        for device in pending:
            self.emit("deploy", STARTED, f"deploying {mode}", target=device.name, chain=chain)
        try:
            outcome = self.studio.deploy(
                variant["path"],
                pending,
                bench=self.settings.bench,
                max_p99_ms=self.settings.max_p99_ms,
                bench_settings=self.settings.bench_settings,
                on_event=self._progress(chain),
                cancel=self.cancel,
            )
        except TfStudioError as exc:
            for device in pending:
                self._fail("deploy", device.name, exc.message, chain=chain)
            return
        for result in outcome:
            data = result.to_json()
            status = _DEPLOY_STATUS.get(data["status"], FAILED)
            event_chain = C.with_device(chain, result.device, data)
            if status in (FAILED, CANCELLED):
                self.failures.append(result.message)
            self.emit(
                "deploy",
                status,
                _deploy_message(data),
                target=result.device,
                chain=event_chain,
                data=_deploy_data(data),
            )
        self._check_cancel()

    # -- helpers ------------------------------------------------------------

    def _progress(self, chain: dict[str, Any]) -> Callable[[object], None]:
        """Returns a deploy `on_event` that reports each device's stage (not logged)."""
        from tfstudio.operations import StageStarted

        def on_event(event: object) -> None:
            if isinstance(event, StageStarted) and event.target:
                self.emit(
                    PROGRESS, str(event.stage.value), event.message, target=event.target,
                    chain=chain,
                )  # fmt: skip

        return on_event

    def _fail(self, step: str, target: str, message: str, **extra: Any) -> None:
        self.failures.append(message)
        self.emit(step, FAILED, message, target=target, **extra)

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise CancelledError(f"pipeline stopped during {self.name}")


def _intact(variant: dict[str, Any]) -> bool:
    path = Path(str(variant.get("path", "")))
    try:
        return path.is_file() and file_sha256(path) == variant.get("sha256")
    except OSError:
        return False


def _deploy_message(data: dict[str, Any]) -> str:
    message = str(data.get("message") or "")
    bench = data.get("bench") or {}
    if data.get("status") == "ok" and bench.get("p99_ms") is not None:
        message += f" (p50 {_short(bench.get('p50_ms'))} ms, p99 {_short(bench.get('p99_ms'))} ms)"
    if data.get("hint"):
        message += f" ({data['hint']})"
    return message


def _deploy_data(data: dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "message", "hint", "sha256", "active", "previous", "bench", "duration_s")
    return {k: data.get(k) for k in keys}


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
