"""Headless conversion core: SavedModel/Keras → TFLite in every quantization mode.

`convert()` is the one public entry point. It checks what can be checked
without TensorFlow (modes, options, the source, the output directory), then
hands the work to a conversion worker, a child process (see `supervisor`):
it loads the source and checks the data before the first (slow) conversion,
then converts, verifies and scores mode by mode. This process writes each
model and its manifest atomically. A mode that fails (converter error, a model
that is not what its mode says, a crash of the native converter) is recorded
and the other modes go on. It never prints: it speaks the studio's one
contract (`tfstudio.operations`): events to an optional `on_event`, and a
`CancelToken` stops it, also mid-mode, so a TUI can run it in a worker thread
and stay alive whatever the converter does.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tfstudio.atomic import sweep_stale_temps, write_files_atomic
from tfstudio.config import studio_home
from tfstudio.convert.job import ConvertOptions, ModeOutcome, Prepared
from tfstudio.convert.manifest import build_manifest, manifest_bytes
from tfstudio.convert.presets import Mode, Preset, load_presets, parse_modes
from tfstudio.convert.repdata import check_data_path
from tfstudio.convert.result import (
    ConversionResult,
    FailedVariant,
    ModesFailedError,
    VariantResult,
)
from tfstudio.convert.supervisor import ConversionWorker
from tfstudio.digest import RECORDS_DIR, remember_sha256
from tfstudio.errors import (
    CancelledError,
    OutputError,
    RepresentativeDataError,
    TfStudioError,
    UsageError,
)
from tfstudio.models.facts import inspect_bytes, runtime_json
from tfstudio.models.lineage import train_steps
from tfstudio.models.source import (
    SERVING_KEY,
    SourceInfo,
    SourceKind,
    fixed_batch_needs_keras,
    probe_source,
    resolve_given,
)
from tfstudio.operations import CancelToken, EventCallback, Reporter, Stage

__all__ = [
    "OPERATION",
    "ConversionResult",
    "ConvertOptions",
    "FailedVariant",
    "Mode",
    "ModesFailedError",
    "VariantResult",
    "convert",
    "output_paths",
]

OPERATION = "convert"
"""The operation name of every event a conversion emits; the target is a mode's name, or
"convert" for the whole conversion (loading the source and TensorFlow)."""


def output_paths(outdir: Path, name: str, mode: str) -> tuple[Path, Path]:
    """Returns the final (model, manifest) paths: `<name>.<mode>.tflite` and `.json`."""
    return outdir / f"{name}.{mode}.tflite", outdir / f"{name}.{mode}.json"


def convert(
    source: str | Path,
    outdir: str | Path,
    modes: str | Iterable[str | Mode] | None = None,
    rep_data: str | Path | None = None,
    eval_data: str | Path | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    *,
    eval_output: str | None = None,
    fixed_batch: int | None = None,
    select_tf_ops: bool = False,
    allow_float_fallback: bool = False,
    signature: str | None = None,
) -> ConversionResult:
    """Converts `source` into one .tflite (plus manifest) per mode in `outdir`.

    `modes` is "float32,int8", "all", a list of names/Modes, or None (float32).
    `rep_data`/`eval_data`: .npy, .npz (`x` or one array per input name, and
    `y` labels for eval) or a directory of images. `eval_output` picks the
    output accuracy is computed on (default: the first in the signature);
    `fixed_batch` exports a Keras source with that static batch size;
    `select_tf_ops` allows TensorFlow (Flex) ops; `allow_float_fallback` lets
    full-integer modes keep ops without an integer kernel in float; `signature`
    names the SavedModel signature to convert (default `serving_default`; every
    mode converts that one alone, and scores and invokes it).

    Events (`tfstudio.operations`, operation "convert"): LOAD for target
    "convert", then per mode CONVERT (with index and total), VERIFY and
    EVALUATE, and TargetFinished (ok=False with the mode's one-line error when
    it failed; the other modes go on). After a converter crash the next mode
    starts with LOAD again.

    Returns a ConversionResult when every mode was written. Raises
    ModesFailedError (a ConversionError carrying the result) when any mode
    failed after the others were tried; before any conversion: UsageError,
    RepresentativeDataError, SourceModelError, OutputError, MissingExtraError;
    CancelledError when `cancel` is set (models finished before stay). Nothing
    is written at a final path before every input check has passed.
    """
    chosen = parse_modes(modes)
    presets = load_presets()
    needy = [m.value for m in chosen if presets[m].needs_rep_data]
    if needy and rep_data is None:
        raise RepresentativeDataError(
            f"{', '.join(needy)} need{'s' if len(needy) == 1 else ''} representative data;"
            " nothing was converted",
            hint="pass --rep-data with a .npy, an .npz with 'x' (or one array per input name),"
            " or a directory of images",
        )
    options = ConvertOptions(
        eval_output, fixed_batch, select_tf_ops, allow_float_fallback, signature
    )
    options.check(eval_data is not None)
    # A mistyped data path fails at once, before the worker and TensorFlow start.
    rep_path = check_data_path(rep_data, "representative data") if rep_data is not None else None
    eval_path = check_data_path(eval_data, "eval data") if eval_data is not None else None
    info = probe_source(source)
    if fixed_batch is not None and info.kind is SourceKind.SAVED_MODEL:
        raise fixed_batch_needs_keras()
    if signature not in (None, SERVING_KEY) and info.kind is not SourceKind.SAVED_MODEL:
        raise UsageError(
            f"--signature {signature} needs a SavedModel source: a .keras/.h5 model is "
            f"exported with one signature, {SERVING_KEY}"
        )
    out = _prepare_outdir(Path(outdir))
    if cancel is not None and cancel.is_set():
        raise CancelledError(f"conversion cancelled after 0 of {len(chosen)} modes")
    run = _Run(chosen, presets, info, out, options, on_event)
    run.training = train_steps(info.sha256)
    with ConversionWorker(
        info,
        rep_path,
        eval_path,
        options,
        on_stage=run.stage,
        cancel=cancel,
    ) as worker:
        try:
            run.prepared = worker.prepare()
        except CancelledError:
            raise CancelledError(
                f"conversion cancelled while loading the model (0 of {len(chosen)} modes)"
            ) from None
        for index, mode in enumerate(chosen, start=1):
            done = len(run.variants) + len(run.failures)
            if cancel is not None and cancel.is_set():
                raise CancelledError(f"conversion cancelled after {done} of {len(chosen)} modes")
            try:
                run.mode(worker, index, mode)
            except CancelledError:
                raise CancelledError(
                    f"conversion cancelled during {mode.value} (after {done} of "
                    f"{len(chosen)} modes; nothing was written for {mode.value})"
                ) from None
    result = run.result()
    if not result.ok:
        raise ModesFailedError(result)
    return result


class _Run:
    """The bookkeeping of one `convert` call: what was written, what failed, progress."""

    def __init__(
        self,
        chosen: tuple[Mode, ...],
        presets: dict[Mode, Preset],
        info: SourceInfo,
        out: Path,
        options: ConvertOptions,
        on_event: EventCallback | None,
    ) -> None:
        self.chosen = chosen
        self.presets = presets
        self.info = info
        self.out = out
        self.options = options
        self.on_event = on_event
        self.current: str | None = None
        self.index = 0
        self.prepared: Prepared | None = None
        self.variants: list[VariantResult] = []
        self.failures: list[FailedVariant] = []
        self.training: list[dict[str, Any]] = []

    def report(self, target: str | None = None) -> Reporter:
        """The reporter of `target` (default: the mode in progress, else the conversion)."""
        return Reporter(OPERATION, target or self.current or OPERATION, self.on_event)

    def stage(self, stage: Stage) -> None:
        """The worker entered `stage` (for the mode in progress, or loading)."""
        if stage is Stage.CONVERT:
            return  # `mode` announced it, with its index
        text = {
            Stage.LOAD: "loading the model and TensorFlow",
            Stage.VERIFY: "verifying",
            Stage.EVALUATE: "evaluating",
        }.get(stage, stage.value)
        if self.current is None:
            self.report().stage(stage, text)
        else:
            self.report().stage(stage, text, self.index, len(self.chosen))

    def mode(self, worker: ConversionWorker, index: int, mode: Mode) -> None:
        """Converts and writes one mode; records (and reports) a failure instead of raising."""
        total = len(self.chosen)
        self.current, self.index = mode.value, index
        report = self.report()
        report.stage(Stage.CONVERT, f"converting {mode.value}", index, total)
        try:
            outcome = worker.convert(self.presets[mode])
            variant = self._write(self.presets[mode], outcome)
        except CancelledError:
            raise
        except TfStudioError as exc:
            error = type(exc)(f"{mode.value}: {exc.message}", hint=exc.hint)
            self.failures.append(FailedVariant(mode.value, error))
            data = {"mode": mode.value, "status": "failed", "error": error.message}
            report.finished(False, error.message, {**data, "index": index, "total": total})
            return
        finally:
            self.current = None
        self.variants.append(variant)
        report.finished(
            True,
            f"wrote {variant.path.name}",
            {
                "path": str(variant.path),
                "size_bytes": variant.size_bytes,
                "seconds": variant.convert_seconds,
                "index": index,
                "total": total,
            },
        )

    def _write(self, preset: Preset, outcome: ModeOutcome) -> VariantResult:
        assert self.prepared is not None
        mode = preset.mode.value
        model_path, manifest_path = output_paths(self.out, self.info.name, mode)
        facts = inspect_bytes(outcome.model, model_path.name)
        settings = preset.settings(
            float_fallback=self.options.allow_float_fallback,
            select_tf_ops=self.options.select_tf_ops,
        )
        settings["fixed_batch"] = self.options.fixed_batch
        settings["signature"] = self.options.signature_key
        if preset.needs_rep_data:
            settings["representative_samples"] = self.prepared.calibration_samples
        manifest = build_manifest(
            model_path=model_path,
            model_sha256=facts.sha256,
            size_bytes=facts.size_bytes,
            mode=mode,
            source=self.info.to_json(),
            tensorflow_version=self.prepared.tensorflow_version,
            settings=settings,
            rep_data=self.prepared.rep if preset.needs_rep_data else None,
            convert_seconds=outcome.seconds,
            metrics=outcome.metrics,
            min_runtime=runtime_json(facts),
            float_fallback_ops=outcome.float_fallback_ops,
            training=self.training,
        )
        # Both or neither: a full disk between the two leaves no model without its
        # manifest. The manifest is renamed last: a model with it beside it is complete.
        write_files_atomic(
            [(model_path, outcome.model), (manifest_path, manifest_bytes(manifest))], shared=True
        )
        # The digest of what was just written, kept with the file's identity: a deploy of
        # this model trusts it while the file is unchanged instead of hashing it again.
        with contextlib.suppress(OSError, TfStudioError):
            home = studio_home()
            remember_sha256(model_path, facts.sha256, model_path.stat(), home / RECORDS_DIR)
        return VariantResult(
            mode,
            model_path,
            manifest_path,
            facts,
            outcome.seconds,
            outcome.metrics,
            outcome.float_fallback_ops,
            outcome.notes,
        )

    def result(self) -> ConversionResult:
        assert self.prepared is not None
        return ConversionResult(
            self.info,
            self.out,
            self.prepared.tensorflow_version,
            tuple(self.variants),
            self.prepared.evaluation,
            tuple(self.failures),
        )


def _prepare_outdir(outdir: Path) -> Path:
    """Creates `outdir` if needed and proves it is writable; returns its absolute path."""
    resolve_given(outdir, "output directory", OutputError)  # a symlink loop: one line
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
