"""Models with several outputs or several inputs: outputs are matched by name, data by input name.

Keras orders the heads score, aux, box; the signature names them output_0..2
(sorted); the flatbuffer lists them in yet another order. A float32 conversion
changes nothing, so every head must agree exactly with the float model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfstudio.convert import convert
from tfstudio.convert.repdata import load_samples
from tfstudio.errors import RepresentativeDataError, UsageError
from tfstudio.models.source import InputSpec


@pytest.fixture(scope="module")
def heads_float32(heads_converted):
    return heads_converted


def test_every_output_is_matched_by_name_and_agrees_exactly(heads_float32):
    variant = heads_float32.variant("float32")
    # The flatbuffer's own order is not the signature's: a positional match would be wrong.
    assert [t.signature_name for t in variant.facts.outputs] != ["output_0", "output_1", "output_2"]
    per = variant.metrics["outputs"]
    assert sorted(per) == ["output_0", "output_1", "output_2"]
    for name, metrics in per.items():
        assert metrics["max_abs_error"] < 1e-5, name
        assert metrics["nonfinite_samples"] == 0
    assert per["output_0"]["top1_agreement"] == per["output_1"]["top1_agreement"] == 1.0
    # Labels are the float model's own 'score' classes: both score 100%.
    assert heads_float32.evaluation.float_accuracy == 1.0
    assert variant.metrics["accuracy"] == 1.0


def test_the_eval_output_is_the_first_in_the_signature_and_said_so(heads_float32):
    from tfstudio.cli.convert_cmd import render_result

    evaluation = heads_float32.evaluation
    assert evaluation.eval_output == "output_0"
    assert evaluation.eval_output_label == "output_0 (score)"
    assert evaluation.chosen_by == "first in the signature"
    assert evaluation.outputs == ("output_0", "output_1", "output_2")
    text = render_result(heads_float32)
    assert "output output_0 (score) (first in the signature; 2 other outputs scored too)" in text
    doc = json.loads(json.dumps(heads_float32.to_json(), allow_nan=False))
    assert doc["eval"]["eval_output"] == "output_0"
    assert all(v["metrics"]["eval_output"] == "output_0" for v in doc["variants"])


def test_eval_output_by_keras_name_or_signature_name(heads, tmp_path):
    result = convert(
        heads.model, tmp_path / "a", "dynamic", eval_data=heads.eval, eval_output="aux"
    )
    assert result.evaluation.eval_output == "output_1"
    assert result.evaluation.chosen_by == "chosen with --eval-output"
    metrics = result.variant("dynamic").metrics
    assert metrics["eval_output"] == "output_1"
    assert metrics["top1_agreement"] == metrics["outputs"]["output_1"]["top1_agreement"]
    # 'y' holds the score head's classes, so on 'aux' the float model itself scores lower.
    assert result.evaluation.float_accuracy < 1.0
    same = convert(
        heads.model, tmp_path / "b", "float32", eval_data=heads.eval, eval_output="output_1"
    )
    assert same.evaluation.float_accuracy == result.evaluation.float_accuracy


def test_an_unknown_eval_output_is_a_usage_error_before_converting(heads, tmp_path):
    with pytest.raises(UsageError) as exc:
        convert(
            heads.model, tmp_path / "out", "float32", eval_data=heads.eval, eval_output="logits"
        )
    assert str(exc.value) == (
        "--eval-output logits: the model has no such output "
        "(it has output_0 (score), output_1 (aux), output_2 (box))"
    )
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(UsageError, match="--eval-output needs --eval-data"):
        convert(heads.model, tmp_path / "out", "float32", eval_output="aux")


def test_labels_are_checked_against_the_chosen_output(heads, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=heads.x, y=np.full(len(heads.x), 7))
    with pytest.raises(RepresentativeDataError) as exc:
        convert(heads.model, tmp_path / "bad", "float32", eval_data=bad, eval_output="box")
    assert "output output_2 (box) has classes 0..5" in str(exc.value)
    assert list((tmp_path / "bad").iterdir()) == []


def test_several_inputs_take_one_array_per_input_name(two_inputs, tmp_path):
    result = convert(
        two_inputs.model, tmp_path / "out", "int8,int16x8",
        rep_data=two_inputs.data, eval_data=two_inputs.data,
    )  # fmt: skip
    assert result.evaluation.float_accuracy == 1.0
    for mode in ("int8", "int16x8"):
        variant = result.variant(mode)
        names = sorted(t.signature_name for t in variant.facts.inputs)
        assert names == ["alpha", "zeta"]
        assert variant.metrics["accuracy"] >= 0.9, mode
    int8 = result.variant("int8").facts
    assert {t.dtype for t in int8.inputs} == {"int8"}
    manifest = json.loads(result.variant("int8").manifest_path.read_text())
    assert manifest["chain"][0]["rep_data"]["samples"] == 80


def test_several_inputs_name_what_is_missing(two_inputs, tmp_path):
    data = np.load(two_inputs.data)
    partial = tmp_path / "partial.npz"
    np.savez(partial, zeta=data["zeta"], alhpa=data["alpha"])
    with pytest.raises(RepresentativeDataError) as exc:
        convert(two_inputs.model, tmp_path / "out", "int8", rep_data=partial)
    assert "lacks arrays for the model's inputs alpha (found alhpa, zeta)" in str(exc.value)
    assert list((tmp_path / "out").iterdir()) == []


def test_several_inputs_refuse_a_single_array_or_uneven_arrays(two_inputs, tmp_path):
    specs = (InputSpec("alpha", (None, 4), "float32"), InputSpec("zeta", (None, 6), "float32"))
    data = np.load(two_inputs.data)
    npy = tmp_path / "rep.npy"
    np.save(npy, data["zeta"])
    with pytest.raises(RepresentativeDataError, match=r"has 2 inputs \(alpha, zeta\)") as exc:
        load_samples(npy, specs, "representative data", labels=False)
    assert exc.value.hint == "give an .npz with one array per input name"
    uneven = tmp_path / "uneven.npz"
    np.savez(uneven, zeta=data["zeta"], alpha=data["alpha"][:10])
    with pytest.raises(RepresentativeDataError, match="different numbers of samples"):
        load_samples(uneven, specs, "representative data", labels=False)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, zeta=data["zeta"], alpha=data["zeta"])
    with pytest.raises(RepresentativeDataError, match="array 'alpha' has shape \\(80, 6\\)"):
        load_samples(wrong, specs, "representative data", labels=False)
