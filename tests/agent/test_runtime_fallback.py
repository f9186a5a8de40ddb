"""The last runtime in the order: a device with only TensorFlow validates and benches.

A sitecustomize on PYTHONPATH hides ai-edge-litert and tflite-runtime from the agent's
Python, so it is the real TensorFlow package that has to provide the interpreter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent.test_bench import FAST

HIDE_LITERT = """
import importlib.abc, sys

class _HideLiteRT(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ai_edge_litert", "tflite_runtime"):
            raise ImportError(f"{name} is hidden: this device has only tensorflow")
        return None

sys.meta_path.insert(0, _HideLiteRT())
"""


@pytest.fixture
def tf_only_env(tmp_path: Path, tensorflow_runtime: None) -> dict:
    """The agent's environment on a device whose only runtime is TensorFlow."""
    hide = tmp_path / "hide-litert"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_LITERT)
    repo = Path(__file__).resolve().parents[2]
    return {"PYTHONPATH": f"{hide}:{repo}"}


def test_tensorflow_only_device_installs_and_benches(agent, tiny_models, tf_only_env):
    run = agent("install", str(tiny_models["float32"]), "--name", "f32", "--json", env=tf_only_env)
    assert run.rc == 0, run.stdout + run.stderr
    bench = agent("bench", *FAST, "--json", env=tf_only_env)
    assert bench.rc == 0, bench.stdout + bench.stderr
    assert bench.json["runtime"]["name"] == "tensorflow"
    assert bench.json["p50_ms"] > 0
