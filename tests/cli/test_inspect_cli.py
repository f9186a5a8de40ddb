"""`tfstudio inspect`: a .tflite file's facts, without tensorflow, as text or JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


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
        "path", "size_bytes", "sha256", "min_runtime_version", "ops", "inputs", "outputs",
    }  # fmt: skip
    assert doc["size_bytes"] == os.path.getsize(tiny_models["int8"])
    assert doc["min_runtime_version"] == "1.14.0"
    assert {"name": "FULLY_CONNECTED", "version": 4} in doc["ops"]
    (inp,) = doc["inputs"]
    assert inp["shape"] == [1, 64] and inp["dtype"] == "int8"
    assert set(inp["quantization"]) == {"scale", "zero_point", "quantized_dimension"}
    assert doc["outputs"][0]["shape"] == [1, 10]


def test_dynamic_model_needs_a_new_runtime(tiny_models):
    doc = json.loads(tfstudio("inspect", tiny_models["dynamic"], "--json").stdout)
    assert doc["min_runtime_version"] == "2.17.0"
    assert {"name": "FULLY_CONNECTED", "version": 12} in doc["ops"]


def test_text_output(tiny_models):
    proc = tfstudio("inspect", tiny_models["float32"])
    assert proc.returncode == 0, proc.stderr
    assert "min runtime:  1.5.0" in proc.stdout
    assert "FULLY_CONNECTED" in proc.stdout and "SOFTMAX" in proc.stdout
    assert "[1, 64]" in proc.stdout


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
