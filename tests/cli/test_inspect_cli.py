"""`tfstudio inspect`: a .tflite file's facts, without tensorflow, as text or JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import model_cache


def tfstudio(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tfstudio", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_error_line(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfstudio: error:"), proc.stderr
    assert fragment in lines[0]


def test_json_facts_of_an_int8_model(tiny_models):
    proc = tfstudio("inspect", tiny_models["int8"], "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == {
        "path", "size_bytes", "sha256", "min_runtime_version", "min_runtime", "measured",
        "flex_ops", "custom_ops", "ops", "kernels", "inputs", "outputs", "subgraphs",
        "signatures",
    }  # fmt: skip
    assert doc["size_bytes"] == os.path.getsize(tiny_models["int8"])
    assert doc["min_runtime_version"] == "1.14.0"
    assert doc["min_runtime"]["version"] == "1.14.0"
    assert doc["min_runtime"]["set_by"] in ("FULLY_CONNECTED v4", "SOFTMAX v2")
    assert doc["min_runtime"]["table"].startswith("TensorFlow 2.21.0 runtime_version.cc")
    assert {
        "name": "FULLY_CONNECTED", "version": 4, "count": 2, "min_runtime": "1.14.0",
        "first_release": {"tflite-runtime": "2.7.0", "ai-edge-litert": "1.0.1"},
    } in doc["ops"]  # fmt: skip
    assert doc["kernels"] == ["FULLY_CONNECTED(int8,int8,-)->(int8)", "SOFTMAX(int8)->(int8)"]
    # Every measured release runs it (2.7.0 is the oldest tflite-runtime measured).
    assert doc["measured"]["runs_on"]["tflite-runtime"][0] == "2.7.0"
    assert doc["measured"]["problems"] == {}
    (inp,) = doc["inputs"]
    assert inp["shape"] == [1, 64] and inp["dtype"] == "int8"
    assert inp["shape_signature"] == [-1, 64]
    assert doc["flex_ops"] == [] and doc["custom_ops"] == []
    assert [g["name"] for g in doc["subgraphs"]] == ["main"]
    assert doc["signatures"][0]["key"] == "serving_default"
    assert set(inp["quantization"]) == {"scale", "zero_point", "quantized_dimension"}
    assert doc["outputs"][0]["shape"] == [1, 10]


def test_dynamic_model_needs_a_new_runtime(tiny_models):
    doc = json.loads(tfstudio("inspect", tiny_models["dynamic"], "--json").stdout)
    assert doc["min_runtime_version"] == "2.17.0"
    assert doc["min_runtime"]["set_by"] == "FULLY_CONNECTED v12"
    assert any(op["name"] == "FULLY_CONNECTED" and op["version"] == 12 for op in doc["ops"])


def test_text_output(tiny_models):
    proc = tfstudio("inspect", tiny_models["float32"])
    assert proc.returncode == 0, proc.stderr
    assert "min runtime:  1.5.0 (FULLY_CONNECTED v1)" in proc.stdout
    assert "FULLY_CONNECTED" in proc.stdout and "SOFTMAX" in proc.stdout
    # Concrete shape and shape signature (dynamic batch as ?), side by side.
    row = next(line for line in proc.stdout.splitlines() if "[1, 64]" in line)
    assert "[?, 64]" in row


def test_inspect_never_imports_tensorflow(tiny_models):
    code = (
        "import sys, contextlib, io\n"
        "from tfstudio.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    rc = main(['inspect', {str(tiny_models['int8'])!r}, '--json'])\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'ai_edge_litert') if m in sys.modules]\n"
        "print(rc, heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "0 []", proc.stdout + proc.stderr


@pytest.mark.parametrize("cut", [12, 200, -40])
def test_truncated_model(tiny_models, tmp_path, cut):
    data = tiny_models["float32"].read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[:cut])
    assert_one_error_line(tfstudio("inspect", path), "cut.tflite")


def test_truncated_model_message(tiny_models, tmp_path):
    path = tmp_path / "cut.tflite"
    path.write_bytes(tiny_models["float32"].read_bytes()[:200])
    assert_one_error_line(tfstudio("inspect", path), "truncated or corrupt")


def test_not_a_tflite_file(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\x00" * 64)
    assert_one_error_line(tfstudio("inspect", path), "not a TFLite model (no 'TFL3'")


def test_missing_and_directory(tmp_path):
    assert_one_error_line(tfstudio("inspect", tmp_path / "absent.tflite"), "does not exist")
    assert_one_error_line(tfstudio("inspect", tmp_path), "is a directory")


def test_error_as_json(tmp_path):
    path = tmp_path / "x.tflite"
    path.write_text("hello")
    proc = tfstudio("inspect", path, "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["type"] == "ModelFormatError"


def build_control_flow(root: Path) -> None:
    """A while-loop model (3 subgraphs: its ops live in the loop body) and a Flex model."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    class Loop(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):
            _, y = tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, tf.tanh(v) * 2.0), [0, x])
            return {"y": y}

    class Inverse(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([4, 4], tf.float32, name="m")])
        def __call__(self, m):
            return {"inv": tf.linalg.inv(m)}

    for name, module, ops in (
        ("loop", Loop(), [tf.lite.OpsSet.TFLITE_BUILTINS]),
        ("flex", Inverse(), [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]),
    ):
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [module.__call__.get_concrete_function()], module
        )
        converter.target_spec.supported_ops = ops
        (root / f"{name}.tflite").write_bytes(converter.convert())


@pytest.fixture(scope="module")
def control_flow(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """loop.tflite and flex.tflite, converted once per machine (tests/helpers/model_cache.py)."""
    root, _ = model_cache.cached_copy(
        "control-flow", build_control_flow, tmp_path_factory.mktemp("control-flow")
    )
    return {name: root / f"{name}.tflite" for name in ("loop", "flex")}


def test_ops_are_counted_over_every_subgraph_which_are_listed(control_flow):
    doc = json.loads(tfstudio("inspect", control_flow["loop"], "--json").stdout)
    assert len(doc["subgraphs"]) == 3
    body = max(doc["subgraphs"], key=lambda g: g["ops"].get("TANH", 0))
    assert body["ops"]["TANH"] == 1 and body["index"] != 0
    counts = {op["name"]: op["count"] for op in doc["ops"]}
    assert counts["TANH"] == 1 and counts["WHILE"] == 1  # TANH is only in the loop body
    assert sum(counts.values()) == sum(g["operators"] for g in doc["subgraphs"])
    text = tfstudio("inspect", control_flow["loop"]).stdout
    assert "3 subgraphs" in text and "subgraphs:" in text
    assert "[?, 4]" in text


def test_flex_models_are_flagged(control_flow):
    proc = tfstudio("inspect", control_flow["flex"])
    assert proc.returncode == 0, proc.stderr
    assert "flex ops:     FlexMatrixInverse: needs a runtime with the Flex delegate" in proc.stdout
    doc = json.loads(tfstudio("inspect", control_flow["flex"], "--json").stdout)
    assert doc["flex_ops"] == ["FlexMatrixInverse"]
    flex = next(op for op in doc["ops"] if op["name"] == "CUSTOM:FlexMatrixInverse")
    assert flex["min_runtime"] is None
