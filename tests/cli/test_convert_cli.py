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

from tests.helpers import model_cache

REPO = Path(__file__).resolve().parents[2]


def build_models(root: Path) -> None:
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
    model.save(root / "mlp.keras")
    model.export(str(root / "mlp_sm"), verbose=False)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 16)).astype(np.float32)
    np.save(root / "rep.npy", x)
    np.savez(root / "eval.npz", x=x, y=rng.integers(0, 5, size=40))
    np.save(root / "bad_rep.npy", x[:, :8])


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, tensorflow_child: None) -> dict[str, Path]:
    """The MLP to convert (built once per machine: tests/helpers/model_cache.py)."""
    root, _ = model_cache.cached_copy(
        "cli-models", build_models, tmp_path_factory.mktemp("cli-models")
    )
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


def catalogued(outdir: Path) -> list[str]:
    """The modes the studio's model catalogue (the UI's Models pane) lists in `outdir`."""
    from tfstudio.studio import Studio

    return sorted(m.mode for m in Studio().models() if m.path.parent == outdir.resolve())


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
        assert v["status"] == "ok"
        assert v["min_runtime_version"] == v["min_runtime"]["version"]
        assert v["min_runtime"]["set_by"] and v["min_runtime"]["known"] is True
        fc = next(op for op in v["ops"] if op["name"] == "FULLY_CONNECTED")
        assert fc["count"] == 2 and fc["min_runtime"]
        assert all(
            set(op) == {"name", "version", "count", "min_runtime", "first_release"}
            for op in v["ops"]
        )
        assert fc["first_release"]["ai-edge-litert"] == "1.0.1"
        assert v["measured"]["runs_on"]["ai-edge-litert"][-1] == "2.3.0"
        for tensor in v["inputs"] + v["outputs"]:
            assert set(tensor) == {
                "name", "signature_name", "shape", "shape_signature", "dtype", "quantization",
            }  # fmt: skip
        assert v["inputs"][0]["shape"] == [1, 16]
        assert v["inputs"][0]["shape_signature"] == [-1, 16]
        assert v["inputs"][0]["signature_name"] == "features"
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
    assert header.split() == [
        "mode", "size", "ratio", "min", "runtime", "set", "by", "accuracy", "seconds",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines if line.split()[:1] in (
        ["float32"], ["dynamic"], ["float16"], ["int8"], ["int16x8"])}  # fmt: skip
    assert list(rows) == ["float32", "dynamic", "float16", "int8", "int16x8"]
    assert rows["float32"][3] == "1.00x"
    assert rows["dynamic"][4:7] == ["2.17.0", "FULLY_CONNECTED", "v12"]
    assert rows["int8"][7].endswith("%")
    assert "float source accuracy" in proc.stdout
    # The same core as the UI's convert view: the variants join the studio's catalogue.
    assert catalogued(tmp_path / "out") == ["dynamic", "float16", "float32", "int16x8", "int8"]


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


def test_help_documents_the_new_options():
    proc = tfstudio("convert", "--help")
    assert proc.returncode == 0
    for option in ("--eval-output", "--fixed-batch", "--select-tf-ops", "--allow-float-fallback"):
        assert option in proc.stdout, option


def build_lstm(root: Path) -> None:
    """A small LSTM text classifier (.keras) and its token data."""
    import keras

    keras.utils.set_random_seed(8)
    inp = keras.Input((12,), name="tokens", dtype="int32")
    h = keras.layers.LSTM(16)(keras.layers.Embedding(50, 8)(inp))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))
    model.save(root / "lstm.keras")
    rng = np.random.default_rng(8)
    np.savez(root / "tokens.npz", x=rng.integers(0, 50, size=(16, 12)).astype(np.int32))


@pytest.fixture(scope="module")
def lstm(tmp_path_factory: pytest.TempPathFactory, tensorflow_child: None) -> dict[str, Path]:
    """A small LSTM text classifier (.keras) whose int8 and int16x8 calibration (with a
    static batch) segfaults TensorFlow 2.21's converter, and its token data (built once
    per machine: tests/helpers/model_cache.py)."""
    root, _ = model_cache.cached_copy("cli-lstm", build_lstm, tmp_path_factory.mktemp("cli-lstm"))
    return {"model": root / "lstm.keras", "tokens": root / "tokens.npz"}


def test_quant_all_goes_on_after_a_crash_and_prints_every_row(lstm, tmp_path):
    out = tmp_path / "out"
    proc = tfstudio("convert", lstm["model"], "-o", out, "--quant", "all",
                    "--rep-data", lstm["tokens"], "--fixed-batch", "1")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    crashed = "the converter crashed (SIGSEGV)"
    line = assert_one_error_line(proc, f"2 of 5 modes failed: int8, int16x8: {crashed}")
    assert line.startswith("tfstudio: error: ")
    rows = {r.split()[0]: r for r in proc.stdout.splitlines() if r.split()[:1] in (
        ["float32"], ["dynamic"], ["float16"], ["int8"], ["int16x8"])}  # fmt: skip
    assert list(rows) == ["float32", "dynamic", "float16", "int8", "int16x8"]
    for mode in ("float32", "dynamic", "float16"):
        assert rows[mode].rstrip().endswith(" ok"), rows[mode]
        assert (out / f"lstm.{mode}.tflite").is_file()
    for mode in ("int8", "int16x8"):
        assert rows[mode].rstrip().endswith(f"failed: {crashed}"), rows[mode]
        assert not (out / f"lstm.{mode}.tflite").exists()
    assert "failed int8 (4/5)" in proc.stderr
    assert catalogued(out) == ["dynamic", "float16", "float32"]  # what was written, no more
    assert "status" in next(r for r in proc.stdout.splitlines() if r.startswith("mode"))


def test_json_on_a_failed_mode_is_one_document_with_each_variants_status(lstm, tmp_path):
    proc = tfstudio("convert", lstm["model"], "-o", tmp_path / "out", "--quant", "float32,int8",
                    "--rep-data", lstm["tokens"], "--fixed-batch", "1", "--json")  # fmt: skip
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)  # exactly one document on stdout
    assert doc["ok"] is False
    assert [(v["mode"], v["status"]) for v in doc["variants"]] == [
        ("float32", "ok"), ("int8", "failed"),
    ]  # fmt: skip
    failed = doc["variants"][1]
    assert failed["error"] == "int8: the converter crashed (SIGSEGV)"
    assert failed["error_type"] == "ConversionError"
    assert doc["error"] == "int8: the converter crashed (SIGSEGV)"
    assert doc["type"] == "ModesFailedError"
    assert doc["variants"][0]["path"].endswith("lstm.float32.tflite")


def _strict_json(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.usefixtures("tensorflow_child", "tensorflow_runtime")
def test_json_never_contains_nan_it_says_why_a_value_is_missing(tmp_path):
    import tensorflow as tf

    class Log(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):
            return {"log": tf.math.log(x)}

    module = Log()
    source = tmp_path / "log_sm"
    tf.saved_model.save(module, str(source), signatures={"serving_default": module.__call__})
    data = tmp_path / "eval.npz"
    np.savez(data, x=-np.ones((5, 4), np.float32))  # finite input, NaN output
    proc = tfstudio("convert", source, "-o", tmp_path / "out", "--eval-data", data, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = _strict_json(proc.stdout)
    metrics = doc["variants"][0]["metrics"]
    assert metrics["max_abs_error"] is None and metrics["top1_agreement"] is None
    assert metrics["null_reasons"]["max_abs_error"] == "all 5 samples gave NaN or infinity"
    assert metrics["outputs"]["log"]["nonfinite_samples"] == 5
    manifest = _strict_json((tmp_path / "out" / "log_sm.float32.json").read_text())
    assert manifest["metrics"]["max_abs_error"] is None


def test_json_on_a_usage_error_is_one_document(models, tmp_path):
    proc = tfstudio("convert", models["keras"], "-o", tmp_path / "out", "--eval-data",
                    models["eval"], "--eval-output", "logits", "--json")  # fmt: skip
    assert proc.returncode == 2
    doc = _strict_json(proc.stdout)
    assert doc["type"] == "UsageError"
    assert doc["error"].startswith("--eval-output logits: the model has no such output")


def test_a_long_converter_error_goes_below_the_table(lstm, tmp_path):
    proc = tfstudio("convert", lstm["model"], "-o", tmp_path / "out")  # dynamic batch: fails
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    row = next(line for line in lines if line.startswith("float32"))
    assert row.rstrip().endswith("failed (below)")
    below = next(line for line in lines if line.startswith("float32 failed: the converter failed"))
    assert "Please consider using Select TF ops" in below
    assert_one_error_line(proc, "--fixed-batch 1")
