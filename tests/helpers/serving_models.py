"""Small .tflite models in the shapes of TF Serving's REST examples, converted with TensorFlow.

- `half_plus_three`: x (N,) float32 → 0.5 x + 3, the model of api_rest.md's curl example.
- `two_heads`: a Keras functional model with two heads, features (N, 8) → output_0 (N, 3)
  softmax and output_1 (N, 1); TF 2.21's converter names both output tensors
  `StatefulPartitionedCall_1:…`, so only the signature tells them apart.
- `tag_signal_sensor`: the three named inputs of api_rest.md's row and columnar examples,
  tag (N,) string, signal (N, 5) and sensor (N, 2, 2) float32 → total (N,) float32 and
  tag_bytes (N,) string (an output whose name ends in `_bytes` is written as base64).
- `echo`: text (N,) string → text (N,) string (api_rest.md's list of scalar string
  tensors and its base64 values).
- `pairs`: x (N, 1, 2) float32 → 2 x (api_rest.md's "2 tensors each of [1, 2] shape").

Only builtin ops (GATHER, RANGE, SUM, MUL, ADD...), so every runtime the agent
supports loads them, tflite-runtime 2.14 included.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any


def _write(path: Path, converter: Any) -> Path:
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints its export summary
        path.write_bytes(converter.convert())
    return path


def _module_converter(fn: Any, module: Any) -> Any:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], module)


def build_serving_models(out: Path) -> dict[str, Path]:
    """Writes every model above into `out`; returns {name: path}."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    paths: dict[str, Path] = {}

    class HalfPlusThree(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")], autograph=False)
        def serve(self, x: Any) -> Any:
            return {"y": 0.5 * x + 3.0}

    m1 = HalfPlusThree()
    paths["half_plus_three"] = _write(
        out / "half_plus_three.tflite", _module_converter(m1.serve, m1)
    )

    keras.utils.set_random_seed(0)
    features = keras.Input((8,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(features)
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(hidden)
    reg = keras.layers.Dense(1, name="reg")(hidden)
    model = keras.Model(features, [cls, reg])
    paths["two_heads"] = _write(
        out / "two_heads.tflite", tf.lite.TFLiteConverter.from_keras_model(model)
    )

    class TagSignalSensor(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.string, name="tag"),
                tf.TensorSpec([None, 5], tf.float32, name="signal"),
                tf.TensorSpec([None, 2, 2], tf.float32, name="sensor"),
            ],
            autograph=False,
        )
        def serve(self, tag: Any, signal: Any, sensor: Any) -> Any:
            rows = tf.range(tf.shape(tag)[0])
            total = tf.reduce_sum(signal, axis=1) + tf.reduce_sum(sensor, axis=[1, 2])
            return {"total": total, "tag_bytes": tf.gather(tag, rows)}

    m3 = TagSignalSensor()
    paths["tag_signal_sensor"] = _write(
        out / "tag_signal_sensor.tflite", _module_converter(m3.serve, m3)
    )

    class Echo(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string, name="text")], autograph=False
        )
        def serve(self, text: Any) -> Any:
            return {"text": tf.gather(text, tf.range(tf.shape(text)[0]))}

    m4 = Echo()
    paths["echo"] = _write(out / "echo.tflite", _module_converter(m4.serve, m4))

    class Pairs(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, 1, 2], tf.float32, name="x")], autograph=False
        )
        def serve(self, x: Any) -> Any:
            return {"y": 2.0 * x}

    m5 = Pairs()
    paths["pairs"] = _write(out / "pairs.tflite", _module_converter(m5.serve, m5))
    return paths
