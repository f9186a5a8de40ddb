"""Runs `tf.lite.TFLiteConverter` for one preset, and the float source for reference.

This is the only module of the conversion that touches the TensorFlow API.
A preset's fields are applied by name (getattr on tf.lite.Optimize, OpsSet and
tf dtypes), so adding a mode means editing the preset file, not this code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.runtime import stderr_silenced
from tfstudio.convert.presets import Preset
from tfstudio.convert.source import SERVING_KEY, OpenedSource
from tfstudio.errors import ConfigError, ConversionError


def apply_preset(converter: Any, preset: Preset, tf: Any) -> None:
    """Sets the converter's options from `preset` (no representative dataset).

    Raises ConfigError when the preset names something tf.lite does not have.
    """
    try:
        converter.optimizations = [getattr(tf.lite.Optimize, o) for o in preset.optimizations]
        converter.target_spec.supported_ops = {
            getattr(tf.lite.OpsSet, o) for o in preset.supported_ops
        }
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


def convert_saved_model(
    tf: Any, saved_model_dir: Path, preset: Preset, calibration: Sequence[np.ndarray] | None
) -> bytes:
    """Returns the .tflite bytes of `saved_model_dir` converted with `preset`.

    `calibration` (single-sample batches) is required when the preset needs
    representative data. Raises ConversionError when the converter fails.
    """
    if preset.needs_rep_data and not calibration:
        raise ConversionError(f"mode '{preset.mode.value}' needs representative data")
    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    except Exception as exc:  # noqa: BLE001 - TF raises OSError, ValueError, and its own
        raise ConversionError(f"cannot load {saved_model_dir.name}: {_first_line(exc)}") from exc
    apply_preset(converter, preset, tf)
    if preset.needs_rep_data and calibration:
        batches = list(calibration)

        def representative() -> Iterator[list[np.ndarray]]:
            for batch in batches:
                yield [batch]

        converter.representative_dataset = representative
    try:
        with stderr_silenced():
            return bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001 - ConverterError, ValueError, RuntimeError...
        raise ConversionError(
            f"the converter failed for mode '{preset.mode.value}': {converter_reason(exc)}"
        ) from exc


def float_reference(tf: Any, opened: OpenedSource, x: np.ndarray) -> np.ndarray:
    """Returns the float source model's first output for every sample of `x`.

    Keras sources run the loaded model; SavedModels run their serving signature
    (outputs ordered by name, as the converter orders them).
    Raises ConversionError when the model cannot be run on `x`.
    """
    # A model exported with a fixed batch size only accepts batches of that size.
    shape = opened.inputs[0].shape
    batch = (shape[0] if shape else None) or 64
    try:
        if opened.keras_model is not None:
            model = opened.keras_model
            outs = [model(x[i : i + batch], training=False) for i in range(0, len(x), batch)]
            first = [o[0] if isinstance(o, (list, tuple)) else o for o in outs]
            return np.concatenate([np.asarray(o) for o in first], axis=0).astype(np.float32)
        loaded = tf.saved_model.load(str(opened.info.path))
        fn = loaded.signatures[SERVING_KEY]
        key = opened.inputs[0].name
        results = []
        for i in range(0, len(x), batch):
            out = fn(**{key: tf.constant(x[i : i + batch])})
            results.append(np.asarray(out[sorted(out)[0]]))
        return np.concatenate(results, axis=0).astype(np.float32)
    except Exception as exc:  # noqa: BLE001 - TF/Keras raise many kinds
        raise ConversionError(
            f"cannot run the float source on eval data: {_first_line(exc)}"
        ) from exc


def converter_reason(exc: BaseException) -> str:
    """Returns the one line of a (long, MLIR-flavoured) converter error that a user needs."""
    text = str(exc)
    unsupported = re.findall(r"^(?:Custom|Flex) ops: (.+)$", text, re.MULTILINE)
    if unsupported:
        return "the model uses ops that TFLite builtins lack: " + ", ".join(unsupported)
    for line in text.splitlines():
        if "error:" in line:
            # '<unknown>:0: error: loc(callsite(...)): reason' -> 'reason'
            reason = line.rsplit("): ", 1)[-1] if "loc(" in line else line.split("error:", 1)[1]
            if reason.strip():
                return reason.strip()[:300]
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        line = line.strip()
        # TF's ConverterError starts with a file:line prefix; the reason follows it.
        if line and not line.startswith("<unknown>"):
            return line[:300]
    return type(exc).__name__
