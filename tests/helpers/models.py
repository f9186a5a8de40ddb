"""Models the agent and fleet tests convert with TensorFlow (no download): plain float32 MLPs."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path


def float_mlp(path: Path, widths: list[int], seed: int = 0) -> Path:
    """Converts a Keras MLP (64 -> widths..., relu -> 10) to a float32 .tflite at `path`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Dense(w, activation="relu") for w in widths]
    model = keras.Sequential([keras.Input((64,)), *layers, keras.layers.Dense(10)])
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints its export summary
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path
