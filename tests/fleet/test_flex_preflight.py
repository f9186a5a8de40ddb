"""A model converted with TensorFlow (Flex) ops is refused by preflight on a LiteRT-only device."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tfstudio.fleet import preflight
from tfstudio.modelinfo import inspect_model


@pytest.fixture(scope="module")
def flex_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    class Inverse(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([4, 4], tf.float32)])
        def __call__(self, x: tf.Tensor) -> tf.Tensor:
            return tf.linalg.inv(x)  # MatrixInverse: no TFLite builtin, a Flex op

    module = Inverse()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module
    )
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    path = tmp_path_factory.mktemp("flex") / "inverse.tflite"
    path.write_bytes(converter.convert())
    return path


def test_flex_ops_are_read_and_refused(flex_model: Path) -> None:
    facts = inspect_model(flex_model)
    assert any(op.name == "CUSTOM:FlexMatrixInverse" for op in facts.ops), facts.ops
    info = {
        "runtime": {"name": "ai-edge-litert", "version": "2.3.0", "compat_version": "2.21.0"},
        "numpy": "2.0.0",
        "arch": "aarch64",
        "disk_free_bytes": 1 << 30,
    }
    verdict = preflight.check(facts, info, "pi")
    assert [p.kind for p in verdict.problems] == ["needs_tf_ops"]
    assert "FlexMatrixInverse" in verdict.problems[0].message
