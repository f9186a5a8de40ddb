"""Data that used to crash the converter or score 0% is refused up front, saying what and where;
and a model that is not what its mode says is never written under that mode's name."""

from __future__ import annotations

import numpy as np
import pytest

from tfstudio.convert import convert
from tfstudio.convert.datacheck import check_finite, check_labels
from tfstudio.errors import ConversionError, RepresentativeDataError
from tfstudio.models.source import OutputSpec

TEN = OutputSpec("output_0", (None, 10), "float32")


def _files(directory):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_infinite_rep_data_is_refused_before_converting(digits, tmp_path):
    # Calibrating on inf segfaults TensorFlow 2.21's int8 converter.
    x = np.load(digits.rep)[:40].copy()
    x[3, 2, 5, 0] = np.inf
    x[7, 0, 0, 0] = -np.inf
    x[7, 1, 1, 0] = np.nan
    rep = tmp_path / "rep.npy"
    np.save(rep, x)
    out = tmp_path / "out"
    with pytest.raises(RepresentativeDataError) as exc:
        convert(digits.model, out, "float32,int8", rep_data=rep)
    assert str(exc.value).startswith(
        "representative data rep.npy has 3 non-finite values of 2560 (NaN: 1, +inf: 1, -inf: 1) "
        "in 2 of 40 samples; the first at sample 3, index (3, 2, 5, 0)"
    )
    assert _files(out) == []


def test_all_nan_rep_data_no_longer_makes_a_model_called_int8(digits, tmp_path):
    rep = tmp_path / "nan.npy"
    np.save(rep, np.full((20, 8, 8, 1), np.nan, np.float32))
    out = tmp_path / "out"
    with pytest.raises(RepresentativeDataError, match="has 1280 non-finite values of 1280"):
        convert(digits.model, out, "int8", rep_data=rep)
    assert _files(out) == []


def test_nan_in_eval_x_is_refused(digits, tmp_path):
    data = np.load(digits.eval)
    x = data["x"].copy()
    x[10] = np.nan
    bad = tmp_path / "eval.npz"
    np.savez(bad, x=x, y=data["y"])
    with pytest.raises(RepresentativeDataError, match="eval data eval.npz has 64 non-finite"):
        convert(digits.model, tmp_path / "out", "float32", eval_data=bad)
    assert _files(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array([0, 3, -1, 9]), "'y' has 1 negative label (the first at sample 2: -1)"),
        (np.array([0, 3, 12, 10]), "'y' has 2 labels above 9 (the largest is 12"),
        (np.eye(7)[[0, 1, 2, 3]], "'y' is one-hot with 7 columns, but output output_0 has 10"),
        (np.array([0.0, 1.5, 2.0, 3.0]), "'y' holds non-integer labels (e.g. 1.5)"),
    ],
)
def test_label_checks_name_what_is_wrong(y, message):
    with pytest.raises(RepresentativeDataError) as exc:
        check_labels(y, TEN, "eval data e.npz")
    assert message in str(exc.value)


def test_good_labels_pass_as_integers():
    assert check_labels(np.array([0.0, 9.0]), TEN, "e").tolist() == [0, 9]
    assert check_labels(np.eye(10)[[4, 2]], TEN, "e").tolist() == [4, 2]
    binary = OutputSpec("p", (None, 1), "float32")
    assert check_labels(np.array([0, 1, 1]), binary, "e").tolist() == [0, 1, 1]
    with pytest.raises(RepresentativeDataError, match="above 1"):
        check_labels(np.array([0, 2]), binary, "e")


def test_finite_check_ignores_integer_data():
    check_finite(np.arange(10, dtype=np.int32), "tokens")
    check_finite(np.zeros((3, 2), np.float32), "x")


@pytest.mark.usefixtures("tensorflow_runtime")
def test_a_nan_calibrated_model_is_recognised_as_not_int8(tmp_path):
    """The converter exits 0 on all-NaN calibration with a float model: verify catches it."""
    import keras
    import tensorflow as tf

    from edge_agent.tflite_schema import read_model_facts
    from tfstudio.convert.presets import Mode, load_presets
    from tfstudio.convert.verify import verify_mode
    from tfstudio.models.source import InputSpec

    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((8, 8, 1), name="image"), keras.layers.Conv2D(4, 3, activation="relu"),
         keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
    )  # fmt: skip
    model.export(str(tmp_path / "sm"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    converter.representative_dataset = lambda: (
        [np.full((1, 8, 8, 1), np.nan, np.float32)] for _ in range(8)
    )
    facts = read_model_facts(converter.convert())
    assert facts.inputs[0].dtype == "float32"  # what the converter really made
    preset = load_presets()[Mode.INT8]
    inputs = [InputSpec("image", (None, 8, 8, 1), "float32")]
    outputs = [OutputSpec("output_0", (None, 10), "float32")]
    with pytest.raises(ConversionError) as exc:
        verify_mode(facts, preset, inputs, outputs)
    message = str(exc.value)
    assert message.startswith("the converted model is not int8: input 'image' is float32, not int8")
    assert "float kernels remain for CONV_2D x1, FULLY_CONNECTED x1" in message
