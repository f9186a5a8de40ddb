"""`tfstudio convert` as a user runs it: a real subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small untrained MLP as .keras and SavedModel, with rep and eval data."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [
            keras.Input((16,), name="features"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    root = tmp_path_factory.mktemp("cli-models")
    model.save(root / "mlp.keras")
    model.export(str(root / "mlp_sm"), verbose=False)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 16)).astype(np.float32)
    np.save(root / "rep.npy", x)
    np.savez(root / "eval.npz", x=x, y=rng.integers(0, 5, size=40))
    np.save(root / "bad_rep.npy", x[:, :8])
    return {
        "keras": root / "mlp.keras",
        "saved_model": root / "mlp_sm",
        "rep": root / "rep.npy",
        "eval": root / "eval.npz",
        "bad_rep": root / "bad_rep.npy",
    }


def tfstudio(
    *args: object, python: str = sys.executable, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-m", "tfstudio", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env},
    )


def assert_one_error_line(proc: subprocess.CompletedProcess, fragment: str) -> str:
    """The user sees exactly one error line containing `fragment`, and no traceback."""
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tfstudio: error:")]
    assert len(errors) == 1, proc.stderr
    assert fragment in errors[0], errors[0]
    return errors[0]


def no_outputs(directory: Path) -> bool:
    if not directory.exists():
        return True
    return not [p for p in directory.iterdir() if p.suffix in (".tflite", ".json")]


def test_json_output_has_the_documented_schema(models, tmp_path):
    out = tmp_path / "out"
    proc = tfstudio(
        "convert", models["keras"], "-o", out, "--quant", "float32,int8",
        "--rep-data", models["rep"], "--eval-data", models["eval"], "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # stdout holds only the JSON object
    assert doc["source"] == {
        "path": str(models["keras"]),
        "sha256": doc["source"]["sha256"],
        "kind": "keras",
    }
    assert len(doc["source"]["sha256"]) == 64
    assert [v["mode"] for v in doc["variants"]] == ["float32", "int8"]
    for v in doc["variants"]:
        assert v["path"] == str(out / f"mlp.{v['mode']}.tflite")
        assert Path(v["path"]).stat().st_size == v["size_bytes"]
        assert len(v["sha256"]) == 64
        assert v["min_runtime_version"]
        assert {"name": "FULLY_CONNECTED", "version": v["ops"][0]["version"]} in v["ops"]
        assert all(set(op) == {"name", "version"} for op in v["ops"])
        for tensor in v["inputs"] + v["outputs"]:
            assert set(tensor) == {"name", "shape", "dtype", "quantization"}
        assert v["inputs"][0]["shape"] == [1, 16]
        assert v["convert_seconds"] > 0
        assert {"accuracy", "top1_agreement", "max_abs_error", "mean_abs_error"} <= set(
            v["metrics"]
        )
    int8 = doc["variants"][1]
    assert int8["inputs"][0]["dtype"] == "int8"
    assert int8["inputs"][0]["quantization"]["scale"][0] > 0
    assert doc["variants"][0]["inputs"][0]["quantization"] is None
    # stderr carries progress only: no converter or runtime chatter around it.
    assert [line.split(" ")[0] for line in proc.stderr.splitlines()] == [
        "converting", "wrote", "converting", "wrote",
    ], proc.stderr  # fmt: skip
    assert "converting int8 (2/2)" in proc.stderr


def test_text_output_is_a_table(models, tmp_path):
    proc = tfstudio("convert", models["saved_model"], "-o", tmp_path / "out", "--quant", "all",
                    "--rep-data", models["rep"], "--eval-data", models["eval"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("mode"))
    assert header.split() == ["mode", "size", "ratio", "min", "runtime", "accuracy", "seconds"]
    rows = {line.split()[0]: line.split() for line in lines if line.split()[:1] in (
        ["float32"], ["dynamic"], ["float16"], ["int8"], ["int16x8"])}  # fmt: skip
    assert list(rows) == ["float32", "dynamic", "float16", "int8", "int16x8"]
    assert rows["float32"][3] == "1.00x"
    assert rows["dynamic"][4] == "2.17.0"
    assert rows["int8"][5].endswith("%")
    assert "float source accuracy" in proc.stdout


def test_missing_rep_data(models, tmp_path):
    out = tmp_path / "out"
    proc = tfstudio("convert", models["keras"], "-o", out, "--quant", "int8")
    assert_one_error_line(proc, "int8 needs representative data; nothing was converted")
    assert not out.exists()


def test_wrong_rep_data_shape(models, tmp_path):
    out = tmp_path / "out"
    proc = tfstudio("convert", models["keras"], "-o", out, "--quant", "float32,int8",
                    "--rep-data", models["bad_rep"])  # fmt: skip
    assert_one_error_line(proc, "has shape (40, 8); the model's input 'features' expects (N, 16)")
    assert no_outputs(out)


def test_corrupt_saved_model(models, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(models["saved_model"], broken)
    (broken / "saved_model.pb").write_bytes(os.urandom(3000))
    out = tmp_path / "out"
    proc = tfstudio("convert", broken, "-o", out)
    assert_one_error_line(proc, "is a corrupt SavedModel")
    assert no_outputs(out)


def test_non_model_file(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\0" * 100)
    proc = tfstudio("convert", path, "-o", tmp_path / "out")
    assert_one_error_line(proc, "is not a model tfstudio can convert")
    assert no_outputs(tmp_path / "out")


def test_missing_source(tmp_path):
    proc = tfstudio("convert", tmp_path / "missing.keras", "-o", tmp_path / "out")
    assert_one_error_line(proc, "missing.keras does not exist")


def test_output_dir_not_writable(models, tmp_path):
    # Root ignores permissions, so block the directory with a regular file instead.
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    proc = tfstudio("convert", models["keras"], "-o", blocker / "out")
    assert_one_error_line(proc, "cannot create output directory")
    assert blocker.read_text() == "x"


def test_unknown_mode_exits_2(models, tmp_path):
    proc = tfstudio("convert", models["keras"], "-o", tmp_path / "out", "--quant", "int3")
    assert proc.returncode == 2
    assert_one_error_line(proc, "unknown quantization mode 'int3'")


def test_errors_are_json_under_json(tmp_path):
    proc = tfstudio("convert", tmp_path / "missing.keras", "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["type"] == "SourceModelError"


def test_missing_convert_extra_names_the_install_command(models, tmp_path, device_venvs):
    # The device venv has numpy and LiteRT but no tensorflow: a studio host
    # installed without the `convert` extra.
    proc = tfstudio(
        "convert", models["keras"], "-o", tmp_path / "out",
        python=str(device_venvs["device"]), PYTHONPATH=str(REPO),
    )  # fmt: skip
    line = assert_one_error_line(proc, "tensorflow is not installed")
    assert "pip install 'tfstudio[convert]'" in line
    assert no_outputs(tmp_path / "out")


def test_demo_output_dir_not_writable(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    proc = tfstudio("demo", "-o", blocker / "demo")
    assert_one_error_line(proc, "cannot create demo directory")
