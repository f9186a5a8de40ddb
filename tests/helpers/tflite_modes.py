"""Converts a Keras model to .tflite in the quantization modes the tests use, with TF directly
(so the agent and fleet tests do not depend on the convert core)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

MODES = ("float32", "dynamic", "float16", "int8")


def convert_modes(
    model: Any, rep: Callable[[], Iterable[list[Any]]], out: Path, stem: str
) -> dict[str, Path]:
    """Writes `out/<stem>.<mode>.tflite` for every mode; returns {mode: path}.

    int8 is full-integer (int8 in and out), calibrated on `rep`.
    """
    import tensorflow as tf

    paths: dict[str, Path] = {}
    for mode in MODES:
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if mode != "float32":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            conv.target_spec.supported_types = [tf.float16]
        if mode == "int8":
            conv.representative_dataset = rep
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        path = out / f"{stem}.{mode}.tflite"
        path.write_bytes(conv.convert())
        paths[mode] = path
    return paths
