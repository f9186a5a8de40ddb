"""Every kind of source converts: .keras, .h5, SavedModel; and every kind of data loads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_agent import runtime
from tfstudio.convert import convert

# Every test here converts: the full tier (tests/plugins/tiers.py).
pytestmark = pytest.mark.usefixtures("tensorflow_child")


def _run(path, x):
    interpreter = runtime.make_interpreter(model_path=str(path))
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    raw = runtime.run_once(interpreter, [runtime.quantize(x, inp)])[0]
    return runtime.dequantize(raw, out)


def test_h5_converts_and_scores_agreement_without_labels(mlp, tmp_path):
    out = tmp_path / "out"
    result = convert(mlp.h5, out, "float32,dynamic", eval_data=mlp.eval_npz)
    assert result.source.kind.value == "h5"
    assert [p.name for p in sorted(out.iterdir())] == [
        "mlp.dynamic.json", "mlp.dynamic.tflite", "mlp.float32.json", "mlp.float32.tflite",
    ]  # fmt: skip
    assert result.evaluation.labelled is False and result.evaluation.float_accuracy is None
    for variant in result.variants:
        metrics = variant.metrics
        assert "accuracy" not in metrics
        assert metrics["samples"] == 50
        assert metrics["top1_agreement"] >= 0.9
        assert 0 <= metrics["mean_abs_error"] <= metrics["max_abs_error"] < 0.1
    assert result.variant("float32").metrics["max_abs_error"] < 1e-5
    assert result.size_ratio("dynamic") < 0.35


def test_saved_model_int8_with_npz_rep_data(mlp, tmp_path):
    result = convert(
        mlp.saved_model, tmp_path / "out", ["int8"], rep_data=mlp.rep_npz, eval_data=mlp.eval_npz
    )
    variant = result.variant("int8")
    assert result.source.kind.value == "saved_model"
    assert variant.path == tmp_path / "out" / "mlp_sm.int8.tflite"
    assert variant.facts.inputs[0].dtype == "int8"
    assert variant.metrics["top1_agreement"] >= 0.8
    x = np.load(mlp.eval_npz)["x"][:1]
    assert _run(variant.path, x).shape == (1, 4)


def test_source_digest_is_stable_and_content_based(mlp, tmp_path):
    import shutil

    from tfstudio.models.source import probe_source

    first = probe_source(mlp.saved_model).sha256
    copy = tmp_path / "copy"
    shutil.copytree(mlp.saved_model, copy)
    assert probe_source(copy).sha256 == first and len(first) == 64
    (copy / "assets").mkdir(exist_ok=True)
    (copy / "assets" / "extra.txt").write_text("changed")
    assert probe_source(copy).sha256 != first


def test_mobilenet_saved_model_with_image_directory_rep_data(mobilenet, image_dir, mobilenet_all):
    int8 = mobilenet_all.variant("int8")
    assert int8.facts.inputs[0].shape == [1, 96, 96, 3]
    assert int8.facts.inputs[0].dtype == "int8"
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD"} <= {o.name for o in int8.facts.ops}
    assert int8.size_bytes < 0.45 * sum(p.stat().st_size for p in mobilenet.rglob("*"))
    images = np.random.default_rng(0).random((1, 96, 96, 3), dtype=np.float32)
    out = _run(int8.path, images)
    assert out.shape == (1, 10)
    assert abs(float(out.sum()) - 1.0) < 0.05  # softmax, in real units after dequantize
    manifest = json.loads(int8.manifest_path.read_text())
    rep = manifest["chain"][0]["rep_data"]
    assert rep["path"] == str(image_dir) and rep["samples"] == 12


def test_fixed_batch_model_is_evaluated_one_sample_at_a_time(tmp_path):
    import keras

    keras.utils.set_random_seed(5)
    inputs = keras.Input((6,), batch_size=1, name="row")
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    source = tmp_path / "fixed.keras"
    model.save(source)
    data = tmp_path / "eval.npz"
    np.savez(data, x=np.random.default_rng(5).normal(size=(7, 6)).astype(np.float32))
    result = convert(source, tmp_path / "out", "float32,int8", rep_data=data, eval_data=data)
    assert result.variant("int8").facts.inputs[0].shape == [1, 6]
    assert result.variant("float32").metrics["top1_agreement"] == 1.0
    assert result.variant("int8").metrics["samples"] == 7
