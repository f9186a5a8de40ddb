"""Recurrent models (LSTM/GRU): the converter's advice survives, and both ways out work.

With a dynamic batch, Keras' recurrent layers trace into tensor lists the
converter cannot lower to builtins. `--fixed-batch N` retraces the Keras model
with a static batch (builtins suffice: WHILE plus its subgraphs);
`--select-tf-ops` keeps them as TensorFlow (Flex) ops, which only a runtime
with the Flex delegate can run.
"""

from __future__ import annotations

import pytest

from edge_agent.device_info import runtime_facts
from tfstudio.convert import convert
from tfstudio.deploy import preflight
from tfstudio.errors import ConversionError, UsageError


def test_dynamic_batch_failure_keeps_the_converters_advice_and_offers_both_options(
    recurrent, tmp_path
):
    with pytest.raises(ConversionError) as exc:
        convert(recurrent.lstm, tmp_path / "out", "float32")
    message, hint = exc.value.message, exc.value.hint or ""
    assert message.startswith("float32: the converter failed: 'tf.TensorListReserve' op requires")
    assert "Lowering tensor list ops is failed. Please consider using Select TF ops" in message
    assert "\\n" not in message and "\n" not in str(exc.value)
    assert "--fixed-batch 1" in hint and "--select-tf-ops" in hint
    assert list((tmp_path / "out").iterdir()) == []


def test_fixed_batch_converts_to_builtins_and_evaluates(lstm_fixed):
    result = lstm_fixed
    assert [v.mode for v in result.variants] == ["float32", "dynamic", "float16"]
    for variant in result.variants:
        facts = variant.facts
        assert facts.flex_ops == []
        assert facts.inputs[0].shape_signature == [5, 12]  # static batch
        assert "WHILE" in {op.name for op in facts.ops} and len(facts.subgraphs) == 3
        # 24 rows in batches of 5: the last 4 were padded to 5, the extra row dropped.
        assert variant.metrics["samples"] == 24
    assert result.variant("float32").metrics["max_abs_error"] < 1e-5
    assert result.variant("float32").metrics["top1_agreement"] == 1.0
    settings = result.variant("float32").manifest_path.read_text()
    assert '"fixed_batch": 5' in settings


def test_select_tf_ops_makes_a_flex_model_that_preflight_refuses_without_flex(recurrent, tmp_path):
    from tfstudio.cli.convert_cmd import render_result

    result = convert(recurrent.gru, tmp_path / "out", "float32", select_tf_ops=True)
    facts = result.variant("float32").facts
    assert facts.flex_ops and all(op.startswith("FlexTensorList") for op in facts.flex_ops)
    assert "the device runtime needs the Flex delegate" in render_result(result)
    # No runtime here can load it, so it is written but not loaded or scored (and says so).
    assert "no runtime on this machine has the Flex delegate" in result.variant("float32").notes[0]
    # This machine's own LiteRT answer, as the agent reports it.
    here = {"runtime": runtime_facts(), "numpy": "2", "arch": "x86_64", "disk_free_bytes": 1 << 30}
    assert here["runtime"]["name"] == "ai-edge-litert"
    assert here["runtime"]["flex_delegate"] is False
    verdict = preflight.check(facts, here, "local")
    assert [p.kind for p in verdict.problems] == ["needs_tf_ops"]
    assert "has no Flex delegate" in verdict.problems[0].message
    with_flex = {
        **here,
        "runtime": {**here["runtime"], "name": "tensorflow", "flex_delegate": True},
    }
    assert preflight.check(facts, with_flex, "local").ok


def test_fixed_batch_needs_a_keras_source(mlp, tmp_path):
    with pytest.raises(UsageError, match="--fixed-batch needs a .keras or .h5 source"):
        convert(mlp.saved_model, tmp_path / "out", fixed_batch=1)
    with pytest.raises(UsageError, match="--fixed-batch must be a positive integer"):
        convert(mlp.h5, tmp_path / "out", fixed_batch=0)
    assert not (tmp_path / "out").exists()
