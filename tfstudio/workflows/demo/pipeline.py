"""The demo end to end: train, export, convert every mode, deploy each variant, bench each.

Every stage goes through the studio's own paths (the `Studio` facade): a
training job (or this process), `convert` with representative and eval data,
`deploy` (preflight → push → validate → activate) and `bench` on a device,
the built-in `local` one by default. Each stage's time is measured and
reported as a `demo` event. A failure that belongs to one mode (a mode that
does not convert, a device that refuses or cannot run a variant) lands in that
mode's row and the others go on; only a failure that leaves no model (training,
export, the conversion as a whole) ends the demo, as its one-line error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfstudio.atomic import write_text_atomic
from tfstudio.convert.supervisor import discard_prestarted, prestart
from tfstudio.errors import OutputError, TfStudioError
from tfstudio.jsonsafe import json_safe
from tfstudio.operations import (
    CancelToken,
    EventCallback,
    Stage,
    StageStarted,
    TargetFinished,
    Throttle,
)
from tfstudio.workflows.demo.digits import load_digits_split, write_files
from tfstudio.workflows.demo.report import STAGES, DemoReport, DemoRow, StageTime, Training
from tfstudio.workflows.demo.train_digits import EPOCHS
from tfstudio.workflows.demo.training import InContainer, InProcess, TrainIn, choose, next_export

if TYPE_CHECKING:
    from tfstudio.convert.result import ConversionResult
    from tfstudio.fleet.registry import Device
    from tfstudio.studio import Studio

OPERATION = "demo"
"""The `operation` of the demo's own stage events (inner operations keep theirs)."""
STEP = "demo-step"
"""The `operation` of one mode's deploy or bench outcome (target: the mode)."""
REPORT_NAME = "demo.json"
"""The report's file in the demo's folder: what `tfstudio demo --json` prints."""
BENCH_RUNS = 200
"""Timed runs per variant: enough for a p99 of a sub-millisecond model in a second."""
_STAGE_KIND = {
    "train": Stage.TRAIN,
    "export": Stage.FINALIZE,
    "convert": Stage.CONVERT,
    "deploy": Stage.INSTALL,
    "bench": Stage.BENCH,
}


@dataclass(frozen=True)
class DemoOptions:
    """What the demo does differently: where it trains, on what image, to which device."""

    train_in: TrainIn = TrainIn.AUTO
    image: str | None = None
    device: str = "local"
    epochs: int = EPOCHS
    bench_runs: int = BENCH_RUNS
    prestart_converter: bool = True
    """Start the conversion's child (and its TensorFlow import) before training."""


class _Clock:
    """Times the stages and reports each as a `demo` event."""

    def __init__(self, emit: EventCallback) -> None:
        self.emit = emit
        self.stages: list[StageTime] = []

    @contextmanager
    def stage(self, name: str, message: str) -> Iterator[list[str]]:
        """Times the block; what it appends to the yielded list is the stage's note."""
        index = STAGES.index(name) + 1
        self.emit(StageStarted(OPERATION, name, _STAGE_KIND[name], message, index, len(STAGES)))
        note: list[str] = []
        started = time.perf_counter()
        try:
            yield note
        except BaseException as exc:
            seconds = time.perf_counter() - started
            text = exc.message if isinstance(exc, TfStudioError) else type(exc).__name__
            self.stages.append(StageTime(name, seconds, False, text))
            self.emit(TargetFinished(OPERATION, name, False, text, {"seconds": seconds}))
            raise
        seconds = time.perf_counter() - started
        text = "; ".join(note)
        self.stages.append(StageTime(name, seconds, True, text))
        self.emit(TargetFinished(OPERATION, name, True, text, {"seconds": round(seconds, 3)}))


def run_demo(
    studio: Studio,
    outdir: str | Path | None = None,
    options: DemoOptions | None = None,
    *,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
) -> DemoReport:
    """Runs the demo end to end into `outdir` (default `HOME/demo`): train (in a container
    or this process), export, convert every mode, deploy each to a device, bench each.
    Returns its report (a mode's failure is in its row), also written to `outdir/demo.json`.

    Events: a `demo` StageStarted/TargetFinished per stage, and each inner
    operation's own.

    Raises OutputError (outdir), DeviceError (unknown device), MissingExtraError,
    the training's errors (engine, image, job; only with `train_in=container`
    when the engine cannot be asked), ConversionError when no mode converted,
    CancelledError.
    """
    options = options or DemoOptions()
    cancel = cancel or CancelToken()
    emit = Throttle(on_event)
    clock = _Clock(emit)
    outdir = Path(outdir).expanduser().absolute() if outdir else studio.home / "demo"
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create demo directory {outdir}: {exc.strerror}") from exc
    device = studio.device(options.device)
    # Where to train is decided first: a missing engine or image is a quick error.
    choice = choose(studio, options.train_in, options.image)
    data = load_digits_split()
    files = write_files(data, outdir)
    workspace = outdir / "workspace"
    export_dir = next_export(workspace)
    trainer: InProcess | InContainer
    if choice.where is TrainIn.CONTAINER:
        trainer = InContainer(studio, choice, files, workspace, export_dir, options.epochs)
        message = f"training the digits CNN in a container ({choice.image})"
    else:
        trainer = InProcess(choice.why, data, export_dir, options.epochs)
        message = f"training the digits CNN in this process ({choice.why})"
    # The conversion's child imports TensorFlow (seconds) while the model trains.
    if options.prestart_converter:
        prestart()
    try:
        with clock.stage("train", message) as note:
            note.append(trainer.train(emit, cancel))
        cancel.raise_if_cancelled("the demo")
        with clock.stage("export", f"exporting the SavedModel to {export_dir}") as note:
            training = trainer.export(cancel)
            note.append(f"{training.saved_model} (sha256 {training.saved_model_sha256[:12]})")
        cancel.raise_if_cancelled("the demo")
        with clock.stage("convert", "converting to every mode with rep and eval data") as note:
            conversion = _convert(studio, training, files, outdir, emit, cancel)
            note.append(f"{len(conversion.variants)} of {len(conversion.rows())} modes")
    finally:
        discard_prestarted()
    rows = _rows(conversion)
    rows = deliver(studio, rows, device, options.bench_runs, clock, emit, cancel)
    evaluation = conversion.evaluation
    report = DemoReport(
        outdir,
        device.name,
        training,
        tuple(rows),
        tuple(clock.stages),
        evaluation.float_accuracy if evaluation else None,
        conversion.tensorflow_version,
    )
    # The same document as `--json`, kept beside the variants it describes.
    write_text_atomic(outdir / REPORT_NAME, json.dumps(json_safe(report.to_json()), indent=2))
    return report


def deliver(
    studio: Studio,
    rows: list[DemoRow],
    device: Device,
    bench_runs: int,
    clock: _Clock | None = None,
    emit: EventCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[DemoRow]:
    """Deploys each converted row's variant to `device`, then benches each deployed one.

    Returns the rows with their p50/p99, or the step that failed and why (never
    raises for one variant's failure). Raises CancelledError.
    """
    emit = emit or (lambda event: None)
    clock = clock or _Clock(emit)
    cancel = cancel or CancelToken()
    with clock.stage("deploy", f"deploying every variant to {device.name}") as note:
        rows = [_deploy(studio, row, device, emit, cancel) for row in rows]
        note.append(f"{sum(r.deployed for r in rows)} of {len(rows)} variants on {device.name}")
    with clock.stage("bench", f"benchmarking each variant on {device.name}") as note:
        rows = [_bench(studio, row, device, bench_runs, emit, cancel) for row in rows]
        note.append(f"{sum(r.p50_ms is not None for r in rows)} of {len(rows)} benched")
    return rows


def _convert(
    studio: Studio,
    training: Training,
    files: Any,
    outdir: Path,
    emit: EventCallback,
    cancel: CancelToken,
) -> ConversionResult:
    from tfstudio.convert.result import ModesFailedError

    try:
        return studio.convert(
            training.saved_model,
            outdir,
            "all",
            rep_data=files.rep,
            eval_data=files.eval,
            on_event=emit,
            cancel=cancel,
        )
    except ModesFailedError as exc:
        if not exc.result.variants:
            raise
        # Some modes converted: the failed ones become rows with their error.
        from tfstudio.models import catalog

        catalog.remember_dir(exc.result.outdir)
        return exc.result


def _rows(conversion: ConversionResult) -> list[DemoRow]:
    from tfstudio.convert.result import VariantResult

    rows = []
    for found in conversion.rows():
        if isinstance(found, VariantResult):
            metrics = found.metrics or {}
            rows.append(
                DemoRow(
                    found.mode,
                    found.path,
                    found.size_bytes,
                    found.facts.sha256,
                    metrics.get("accuracy"),
                    found.facts.min_runtime_version,
                )
            )
        else:
            error = found.error
            rows.append(
                DemoRow(
                    found.mode,
                    failed_step="convert",
                    error=error.message.removeprefix(f"{found.mode}: "),
                    hint=error.hint,
                )
            )
    return rows


def _deploy(
    studio: Studio, row: DemoRow, device: Device, emit: EventCallback, cancel: CancelToken
) -> DemoRow:
    if not row.ok or row.path is None:
        return row
    cancel.raise_if_cancelled("the demo")
    return _step(row, "deploy", lambda: _deploy_one(studio, row, device, emit, cancel), emit)


def _deploy_one(
    studio: Studio, row: DemoRow, device: Device, emit: EventCallback, cancel: CancelToken
) -> DemoRow:
    assert row.path is not None
    (result,) = studio.deploy(row.path, [device], on_event=emit, cancel=cancel)
    if not result.ok:
        return _failed(row, "deploy", _unprefixed(result.message, device.name), result.hint)
    return replace(row, deployed=True)


def _bench(
    studio: Studio,
    row: DemoRow,
    device: Device,
    runs: int,
    emit: EventCallback,
    cancel: CancelToken,
) -> DemoRow:
    from tfstudio.measure.bench import BenchSettings

    if not row.ok or row.path is None:
        return row
    cancel.raise_if_cancelled("the demo")
    # A fixed number of runs, no minimum time: five variants in a few seconds, and
    # the same work for each, so their p50 and p99 compare.
    settings = BenchSettings(runs=runs, warmup=20, min_seconds=0, warmup_min_seconds=0)

    def bench() -> DemoRow:
        assert row.path is not None
        (found,) = studio.bench([device], row.path, settings, on_event=emit, cancel=cancel)
        if not found.ok:
            return _failed(row, "bench", _unprefixed(found.message, device.name), found.hint)
        return replace(row, p50_ms=found.value("p50_ms"), p99_ms=found.value("p99_ms"))

    return _step(row, "bench", bench, emit)


def _step(row: DemoRow, step: str, action: Callable[[], DemoRow], emit: EventCallback) -> DemoRow:
    """Runs one mode's step and reports it; a TfStudioError becomes the row's failure
    (a cancel passes)."""
    from tfstudio.errors import CancelledError

    try:
        done = action()
    except CancelledError:
        raise
    except TfStudioError as exc:
        done = _failed(row, step, exc.message, exc.hint)
    if not done.ok:
        message = f"{step} failed: {done.error}"
    elif step == "bench":
        message = f"p50 {done.p50_ms:.3f} ms, p99 {done.p99_ms:.3f} ms"
    else:
        message = "deployed and active"
    emit(TargetFinished(STEP, done.mode, done.ok, message, {"step": step}))
    return done


def _failed(row: DemoRow, step: str, error: str, hint: str | None) -> DemoRow:
    return replace(row, failed_step=step, error=error, hint=hint)


def _unprefixed(message: str, device: str) -> str:
    return message.removeprefix(f"{device}: ")
