"""Runs `tf.lite.TFLiteConverter` for one preset, and the float source for reference.

This is the only module of the conversion that touches the TensorFlow API; it
runs inside the conversion worker process. A preset's fields are applied by
name (getattr on tf.lite.Optimize, OpsSet and tf dtypes), so adding a mode
means editing the preset file, not this code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfstudio.convert.diagnose import converter_failure, first_line
from tfstudio.convert.presets import Preset
from tfstudio.convert.repdata import Samples
from tfstudio.errors import ConfigError, ConversionError
from tfstudio.models.source import SERVING_KEY

Batch = dict[str, np.ndarray]


def apply_preset(
    converter: Any, preset: Preset, tf: Any, *, float_fallback: bool, select_tf_ops: bool
) -> None:
    """Sets the converter's options from `preset` (no representative dataset).

    Raises ConfigError when the preset names something tf.lite does not have.
    """
    ops = preset.supported_ops_with(float_fallback=float_fallback, select_tf_ops=select_tf_ops)
    try:
        converter.optimizations = [getattr(tf.lite.Optimize, o) for o in preset.optimizations]
        converter.target_spec.supported_ops = {getattr(tf.lite.OpsSet, o) for o in ops}
        converter.target_spec.supported_types = [
            tf.dtypes.as_dtype(t) for t in preset.supported_types
        ]
        if preset.inference_input_type:
            converter.inference_input_type = tf.dtypes.as_dtype(preset.inference_input_type)
        if preset.inference_output_type:
            converter.inference_output_type = tf.dtypes.as_dtype(preset.inference_output_type)
    except (AttributeError, TypeError) as exc:
        raise ConfigError(
            f"preset '{preset.mode.value}' names a setting this TensorFlow lacks: {exc}"
        ) from exc
    if select_tf_ops:
        # TensorFlow's own advice for recurrent models under Flex: keep tensor
        # lists as TF ops instead of failing to lower them to builtins.
        converter._experimental_lower_tensor_list_ops = False


def convert_saved_model(
    tf: Any,
    saved_model_dir: Path,
    preset: Preset,
    calibration: Sequence[Batch] | None,
    *,
    float_fallback: bool = False,
    select_tf_ops: bool = False,
    signature: str = SERVING_KEY,
) -> bytes:
    """Returns the .tflite bytes of `saved_model_dir`'s `signature` converted with `preset`.

    Only that signature is converted: a SavedModel's other signatures would
    become other subgraphs (the first in sorted order being subgraph 0, which
    runtimes run by default), and calibration needs one signature.
    `calibration` (batches keyed by signature input name) is required when the
    preset needs representative data. Raises ConversionError (with the
    converter's reasons and the option that may help) when the converter fails.
    """
    if preset.needs_rep_data and not calibration:
        raise ConversionError(f"mode '{preset.mode.value}' needs representative data")
    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(saved_model_dir), signature_keys=[signature]
        )
    except Exception as exc:  # noqa: BLE001 - TF raises OSError, ValueError, and its own
        raise ConversionError(
            f"cannot load {saved_model_dir.name}: {first_line(str(exc), type(exc).__name__)}"
        ) from exc
    apply_preset(converter, preset, tf, float_fallback=float_fallback, select_tf_ops=select_tf_ops)
    if preset.needs_rep_data and calibration:
        batches = list(calibration)

        def representative() -> Iterator[Batch]:
            yield from batches

        converter.representative_dataset = representative
    try:
        return bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001 - ConverterError, ValueError, RuntimeError...
        reason, hint = converter_failure(str(exc))
        raise ConversionError(f"the converter failed: {reason}", hint=hint) from exc


def float_reference(
    tf: Any, saved_model_dir: Path, samples: Samples, signature: str = SERVING_KEY
) -> dict[str, np.ndarray]:
    """Returns every output of the float SavedModel's `signature` for `samples`, by name.

    Raises ConversionError when the model cannot be run on the samples.
    """
    try:
        loaded = tf.saved_model.load(str(saved_model_dir))
        fn = loaded.signatures[signature]
        _, specs = fn.structured_input_signature
        first = next(iter(specs.values()))
        batch = first.shape[0] if first.shape.rank else None

        def call(rows: Batch) -> dict[str, np.ndarray]:
            out = fn(**{name: tf.constant(value) for name, value in rows.items()})
            return {name: np.asarray(value) for name, value in out.items()}

        return run_batched(samples, batch or 64, call, pad=batch is not None)
    except Exception as exc:  # noqa: BLE001 - TF raises many kinds
        raise ConversionError(
            f"cannot run the float source on eval data: {first_line(str(exc), type(exc).__name__)}"
        ) from exc


def run_batched(
    samples: Samples,
    batch: int,
    call: Callable[[Batch], dict[str, np.ndarray]],
    *,
    pad: bool,
) -> dict[str, np.ndarray]:
    """Calls `call` on consecutive batches of `samples`; returns each output concatenated.

    With `pad` (a static batch size), the last batch is filled up with copies of
    its first sample and the extra rows are dropped from the outputs.
    """
    total = len(samples)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, total, batch):
        rows = samples.rows(start, start + batch)
        real = next(iter(rows.values())).shape[0]
        if pad and real < batch:
            rows = {
                k: np.concatenate([v, np.repeat(v[:1], batch - real, axis=0)])
                for k, v in rows.items()
            }
        for name, value in call(rows).items():
            parts.setdefault(name, []).append(np.asarray(value)[:real])
    return {name: np.concatenate(chunks, axis=0) for name, chunks in parts.items()}
