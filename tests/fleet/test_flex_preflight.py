"""A model converted with TensorFlow (Flex) ops is refused by preflight on a LiteRT-only device."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers import model_cache
from tfstudio.deploy import preflight
from tfstudio.models.facts import inspect_model


def build_flex_model(root: Path) -> None:
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
    (root / "inverse.tflite").write_bytes(converter.convert())


@pytest.fixture(scope="module")
def flex_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .tflite with a Flex op (converted once per machine: tests/helpers/model_cache.py)."""
    root, _ = model_cache.cached_copy(
        "flex-model", build_flex_model, tmp_path_factory.mktemp("flex")
    )
    return root / "inverse.tflite"


def test_flex_ops_are_read_and_refused(flex_model: Path) -> None:
    facts = inspect_model(flex_model)
    assert any(op.name == "CUSTOM:FlexMatrixInverse" for op in facts.ops), facts.ops
    info = {
        "runtime": {
            "name": "ai-edge-litert",
            "version": "2.3.0",
            "compat_version": "2.21.0",
            "flex_delegate": False,
        },
        "numpy": "2.0.0",
        "arch": "aarch64",
        "disk_free_bytes": 1 << 30,
    }
    verdict = preflight.check(facts, info, "pi")
    assert [p.kind for p in verdict.problems] == ["needs_tf_ops"]
    assert "FlexMatrixInverse" in verdict.problems[0].message


def _agent(home: Path, *args: str, python: str = sys.executable) -> dict:
    proc = subprocess.run(
        [python, "-m", "edge_agent", "--home", str(home), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("device", ["device", "old-device"])
def test_agents_say_their_runtime_has_no_flex_delegate_and_refuse_flex_models(
    flex_model: Path, tmp_path: Path, device_venvs: dict, device: str
) -> None:
    python = str(device_venvs[device])
    info = _agent(tmp_path / "home", "info", python=python)
    assert info["runtime"]["flex_delegate"] is False
    # The studio's preflight refuses on that real answer, before any upload...
    verdict = preflight.check(inspect_model(flex_model), info, device)
    assert [p.kind for p in verdict.problems] == ["needs_tf_ops"]
    assert "has no Flex delegate" in verdict.problems[0].message
    # ...and the agent itself refuses the model with the same reason.
    sha = hashlib.sha256(flex_model.read_bytes()).hexdigest()
    answer = _agent(tmp_path / "home", "install", str(flex_model), "--sha256", sha, python=python)
    assert answer["code"] == "needs_tf_ops", answer
    assert "FlexMatrixInverse" in answer["error"]
