"""A SavedModel with two signatures: `serving_default` is converted (or the one named),
and the agent validates and benches a model by its default signature, not subgraph 0."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edge_agent.bench import run_bench
from edge_agent.store import Store
from edge_agent.validate_child import validate
from tfstudio.convert import convert
from tfstudio.errors import SourceModelError, UsageError


def test_every_mode_converts_serving_default_only(edge_models, tmp_path):
    # float32 stands for the float modes (which kept both), int8 and int16x8 failed.
    result = convert(
        edge_models["two_signatures"],
        tmp_path,
        "float32,int8,int16x8",
        rep_data=edge_models["data"] / "x4.npy",
    )
    assert [v.mode for v in result.variants] == ["float32", "int8", "int16x8"]
    for variant in result.variants:
        facts = variant.facts
        assert [s.key for s in facts.signatures] == ["serving_default"], variant.mode
        assert [s.inputs for s in facts.signatures] == [["x"]]
        assert [s.outputs for s in facts.signatures] == [["probs"]]
        assert facts.outputs[0].shape[-1] == 3  # probs, not the 5-wide embedding


def test_signature_option_converts_the_named_signature(edge_models, tmp_path):
    result = convert(
        edge_models["two_signatures"],
        tmp_path,
        "float32,int8",
        rep_data=edge_models["data"] / "x4.npy",
        signature="embed_features",
    )
    for variant in result.variants:
        assert [(s.key, s.inputs, s.outputs) for s in variant.facts.signatures] == [
            ("embed_features", ["f"], ["emb"])
        ]
    manifest = result.variant("int8").manifest_path.read_text()
    assert '"signature": "embed_features"' in manifest


def test_an_unknown_signature_is_one_line_naming_those_there(edge_models, tmp_path):
    with pytest.raises((SourceModelError, UsageError)) as exc:
        convert(edge_models["two_signatures"], tmp_path / "out", "float32", signature="nope")
    text = str(exc.value)
    assert "\n" not in text
    assert "no signature 'nope'" in text and "embed_features, serving_default" in text
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.fixture(scope="module")
def two_signature_tflite(edge_models, tmp_path_factory) -> Path:
    """A .tflite holding both signatures (as other tools write it): embed_features sorts
    first, so it is subgraph 0."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    path = tmp_path_factory.mktemp("two-sig") / "two.tflite"
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(edge_models["two_signatures"]), signature_keys=["embed_features", "serving_default"]
    )
    path.write_bytes(converter.convert())
    return path


def test_validation_invokes_the_default_signature(two_signature_tflite):
    from edge_agent.tflite_schema import read_model_facts

    facts = read_model_facts(two_signature_tflite)
    assert {s.key: s.subgraph for s in facts.signatures} == {
        "embed_features": 0,
        "serving_default": 1,
    }
    answer = validate(str(two_signature_tflite))
    assert answer["ok"], answer
    assert answer["signature"] == "serving_default"
    assert answer["outputs"] == [[1, 3]]


def test_bench_runs_the_default_signature(two_signature_tflite, tmp_path):
    store = Store(tmp_path / "agent")
    store.home.mkdir()
    report = run_bench(store, str(two_signature_tflite), runs=5, warmup=1, min_seconds=0)
    assert report["signature"] == "serving_default"
    data = tmp_path / "x.npz"
    np.savez(data, x=np.ones((1, 4), np.float32))
    named = run_bench(
        store, str(two_signature_tflite), runs=3, warmup=0, min_seconds=0,
        input_kind=str(data), signature="serving_default",
    )  # fmt: skip
    assert named["signature"] == "serving_default" and named["method"]["input_sets"] == 1
