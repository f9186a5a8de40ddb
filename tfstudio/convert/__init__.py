"""Headless conversion core: SavedModel/Keras → TFLite in every quantization mode.

`convert()` is the one public entry point. It checks everything that can be
checked before the first (slow) conversion — modes, representative data, the
output directory, the source and the data shapes — then converts mode by mode,
writing each model and its manifest atomically. It never prints: progress goes
to an optional callback, and a `threading.Event`-like `cancel` is honoured
between modes, so a TUI can run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tfstudio.atomic import sweep_stale_temps, write_bytes_atomic
from tfstudio.convert.events import ModeFinished, ModeStarted, ProgressEvent
from tfstudio.convert.manifest import build_manifest, write_manifest
from tfstudio.convert.presets import Mode, Preset, load_presets, parse_modes
from tfstudio.convert.result import ConversionResult, EvalSummary, VariantResult
from tfstudio.convert.source import InputSpec, SourceInfo, probe_source
from tfstudio.errors import CancelledError, OutputError, RepresentativeDataError
from tfstudio.modelinfo import inspect_bytes

if TYPE_CHECKING:
    import numpy as np

    from tfstudio.convert.repdata import Samples

__all__ = [
    "ConversionResult",
    "Mode",
    "ModeFinished",
    "ModeStarted",
    "VariantResult",
    "convert",
    "output_paths",
]


class CancelFlag(Protocol):
    """Anything with `is_set()`, such as `threading.Event`."""

    def is_set(self) -> bool: ...


def output_paths(outdir: Path, name: str, mode: str) -> tuple[Path, Path]:
    """Returns the final (model, manifest) paths: `<name>.<mode>.tflite` and `.json`."""
    return outdir / f"{name}.{mode}.tflite", outdir / f"{name}.{mode}.json"


def convert(
    source: str | Path,
    outdir: str | Path,
    modes: str | Iterable[str | Mode] | None = None,
    rep_data: str | Path | None = None,
    eval_data: str | Path | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelFlag | None = None,
) -> ConversionResult:
    """Converts `source` into one .tflite (plus manifest) per mode in `outdir`.

    `modes` is "float32,int8", "all", a list of names/Modes, or None (float32).
    Returns a ConversionResult. Raises UsageError (unknown mode),
    RepresentativeDataError (missing or ill-fitting data), SourceModelError,
    OutputError, MissingExtraError (no tensorflow), ConversionError, or
    CancelledError (cancel was set between modes). Nothing is written at a
    final path before every input check has passed.
    """
    chosen = parse_modes(modes)
    presets = load_presets()
    needy = [m.value for m in chosen if presets[m].needs_rep_data]
    if needy and rep_data is None:
        raise RepresentativeDataError(
            f"{', '.join(needy)} need{'s' if len(needy) == 1 else ''} representative data;"
            " nothing was converted",
            hint="pass --rep-data with a .npy, an .npz with 'x', or a directory of images",
        )
    info = probe_source(source)
    out = _prepare_outdir(Path(outdir))

    from tfstudio.convert.engine import float_reference
    from tfstudio.convert.repdata import calibration_batches, load_samples
    from tfstudio.convert.source import load_source, saved_model_dir
    from tfstudio.extras import tensorflow

    tf = tensorflow()
    opened = load_source(info, tf)
    spec = _single_input(opened.inputs, rep_data, eval_data)
    # Given data is checked even when no chosen mode needs it: a typo should not pass silently.
    rep = load_samples(rep_data, spec, "representative data", False) if rep_data else None
    evals = load_samples(eval_data, spec, "eval data", True) if eval_data else None
    job = _Job(
        tf=tf,
        tf_version=str(tf.__version__),
        info=info,
        out=out,
        rep=rep,
        calibration=calibration_batches(rep) if rep is not None else None,
        evals=evals,
        reference=float_reference(tf, opened, evals.x) if evals is not None else None,
    )

    variants: list[VariantResult] = []
    with saved_model_dir(opened) as graph:
        for index, mode in enumerate(chosen, start=1):
            if cancel is not None and cancel.is_set():
                raise CancelledError(
                    f"conversion cancelled after {len(variants)} of {len(chosen)} modes"
                )
            _emit(progress, ModeStarted(mode.value, index, len(chosen)))
            variant = _convert_mode(job, graph, presets[mode])
            variants.append(variant)
            _emit(
                progress,
                ModeFinished(
                    variant.mode,
                    index,
                    len(chosen),
                    str(variant.path),
                    variant.size_bytes,
                    variant.convert_seconds,
                ),
            )
    return ConversionResult(info, out, job.tf_version, tuple(variants), _eval_summary(job))


@dataclass(frozen=True)
class _Job:
    """What every mode of one `convert` call shares, all checked before the first mode."""

    tf: Any
    tf_version: str
    info: SourceInfo
    out: Path
    rep: Samples | None
    calibration: list[np.ndarray] | None
    evals: Samples | None
    reference: np.ndarray | None


def _convert_mode(job: _Job, graph: Path, preset: Preset) -> VariantResult:
    """Converts one mode, checks/scores the model, then writes model and manifest."""
    from tfstudio.convert import engine, evaluate

    mode = preset.mode.value
    started = time.perf_counter()
    calibration = job.calibration if preset.needs_rep_data else None
    model = engine.convert_saved_model(job.tf, graph, preset, calibration)
    seconds = time.perf_counter() - started
    model_path, manifest_path = output_paths(job.out, job.info.name, mode)
    facts = inspect_bytes(model, model_path.name)
    metrics = None
    if job.evals is not None and job.reference is not None:
        outputs = evaluate.run_tflite(model, job.evals.x, model_path.name)
        metrics = evaluate.score(outputs, job.reference, job.evals.y)
    else:
        # A model the converter accepts may still fail to load (e.g. an int16x8
        # conv whose scales overflow); never ship one silently.
        evaluate.check_loads(model, model_path.name)
    write_bytes_atomic(model_path, model)
    manifest = build_manifest(
        model_path=model_path,
        model_sha256=facts.sha256,
        size_bytes=facts.size_bytes,
        mode=mode,
        source=job.info.to_json(),
        tensorflow_version=job.tf_version,
        settings=_settings(preset, calibration),
        rep_data=job.rep.describe() if job.rep is not None and calibration else None,
        convert_seconds=seconds,
        metrics=metrics,
    )
    # The manifest goes last: a model with its manifest beside it is complete.
    write_manifest(manifest_path, manifest)
    return VariantResult(mode, model_path, manifest_path, facts, seconds, metrics)


def _eval_summary(job: _Job) -> EvalSummary | None:
    if job.evals is None or job.reference is None:
        return None
    from tfstudio.convert.evaluate import accuracy

    labels = job.evals.y
    return EvalSummary(
        path=job.evals.path,
        sha256=job.evals.sha256,
        samples=len(job.evals),
        labelled=labels is not None,
        float_accuracy=accuracy(job.reference, labels) if labels is not None else None,
    )


def _prepare_outdir(outdir: Path) -> Path:
    """Creates `outdir` if needed and proves it is writable; returns its absolute path."""
    target = outdir.expanduser().absolute()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise OutputError(f"output path {outdir} exists and is not a directory") from exc
    except OSError as exc:
        raise OutputError(f"cannot create output directory {outdir}: {exc.strerror}") from exc
    if not target.is_dir():
        raise OutputError(f"output path {outdir} exists and is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".tfstudio-probe-", dir=target)
    except OSError as exc:
        raise OutputError(f"output directory {outdir} is not writable: {exc.strerror}") from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    sweep_stale_temps(target)
    return target


def _single_input(inputs: tuple[InputSpec, ...], rep_data: object, eval_data: object) -> InputSpec:
    if len(inputs) != 1 and (rep_data is not None or eval_data is not None):
        names = ", ".join(i.name for i in inputs)
        raise RepresentativeDataError(
            f"the model has {len(inputs)} inputs ({names}); --rep-data and --eval-data "
            "support single-input models only"
        )
    return inputs[0]


def _settings(preset: Preset, calibration: list[Any] | None) -> dict[str, Any]:
    settings = preset.settings()
    if preset.needs_rep_data:
        settings["representative_samples"] = len(calibration or [])
    return settings


def _emit(progress: Callable[[ProgressEvent], None] | None, event: ProgressEvent) -> None:
    if progress is not None:
        progress(event)
