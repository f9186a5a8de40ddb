"""Every quantization mode on the digits CNN: runs in LiteRT, shrinks, keeps accuracy,
and reports the runtime facts the deploy preflight relies on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_agent import runtime
from edge_agent.tflite_schema import parse_version
from tfstudio.convert import Mode
from tfstudio.models.facts import inspect_model
from tfstudio.operations import Stage, StageStarted, TargetFinished

ALL = [m.value for m in Mode]


def test_every_mode_is_written_with_its_manifest(digits_all):
    result, _ = digits_all
    assert [v.mode for v in result.variants] == ALL
    for v in result.variants:
        assert v.path.name == f"digits.{v.mode}.tflite"
        assert v.manifest_path.name == f"digits.{v.mode}.json"
        assert v.path.is_file() and v.manifest_path.is_file()
        assert inspect_model(v.path).sha256 == v.facts.sha256


@pytest.mark.parametrize("mode", ALL)
def test_mode_runs_in_ai_edge_litert(digits_all, digits, mode):
    result, _ = digits_all
    info = runtime.detect_runtime()
    assert info.name == "ai-edge-litert"
    interpreter = runtime.make_interpreter(model_path=str(result.variant(mode).path))
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    predictions = []
    for image in digits.x_test[:50]:
        raw = runtime.run_once(interpreter, [runtime.quantize(image[None], inp)])[0]
        predictions.append(runtime.dequantize(raw, out)[0].argmax())
    assert np.mean(np.array(predictions) == digits.y_test[:50]) > 0.9


def test_sizes_shrink_as_expected(digits_all):
    result, _ = digits_all
    assert result.size_ratio("float32") == 1.0
    assert result.size_ratio("dynamic") < 0.35
    assert result.size_ratio("int8") < 0.35
    assert 0.4 < result.size_ratio("float16") < 0.65


def test_int8_accuracy_within_one_point_of_float(digits_all):
    result, _ = digits_all
    float_accuracy = result.evaluation.float_accuracy
    assert result.evaluation.samples >= 400
    assert float_accuracy > 0.95
    for mode in ("float32", "float16", "int8", "int16x8", "dynamic"):
        accuracy = result.variant(mode).metrics["accuracy"]
        assert abs(accuracy - float_accuracy) <= 0.01, (mode, accuracy, float_accuracy)
    # float32 is the same function as the source: it agrees on every sample.
    assert result.variant("float32").metrics["top1_agreement"] == 1.0
    assert result.variant("float32").metrics["max_abs_error"] < 1e-4


def test_runtime_versions_drive_the_preflight(digits_all):
    result, _ = digits_all
    dynamic = result.variant("dynamic").facts
    assert parse_version(dynamic.min_runtime_version) >= (2, 17, 0)
    assert {"name": "FULLY_CONNECTED", "version": 12} in [
        {"name": o.name, "version": o.version} for o in dynamic.ops
    ]
    for mode in ("float32", "int8"):
        facts = result.variant(mode).facts
        assert parse_version(facts.min_runtime_version) < (2, 17, 0), mode
        assert max(o.version for o in facts.ops if o.name == "FULLY_CONNECTED") < 12


def test_int8_has_int8_io_and_int16x8_keeps_float_io(digits_all):
    result, _ = digits_all
    int8 = result.variant("int8").facts
    assert int8.inputs[0].dtype == "int8" and int8.outputs[0].dtype == "int8"
    assert int8.inputs[0].quantization["scale"][0] > 0
    int16 = result.variant("int16x8").facts
    assert int16.inputs[0].dtype == "float32" and int16.outputs[0].dtype == "float32"
    float16 = result.variant("float16").facts
    assert "DEQUANTIZE" in {o.name for o in float16.ops}


def test_manifest_records_provenance(digits_all, digits):
    result, _ = digits_all
    variant = result.variant("int8")
    manifest = json.loads(variant.manifest_path.read_text())
    assert manifest["source"]["path"] == str(digits.model)
    assert manifest["source"]["sha256"] == result.source.sha256
    assert manifest["source"]["kind"] == "keras"
    assert manifest["model"]["sha256"] == variant.facts.sha256
    assert manifest["tensorflow_version"].startswith("2.")
    settings = manifest["converter_settings"]
    assert settings["supported_ops"] == ["TFLITE_BUILTINS_INT8"]
    assert settings["inference_input_type"] == "int8"
    assert settings["representative_samples"] == 200
    assert manifest["created_at"].endswith("+00:00")
    step = manifest["chain"][0]
    assert step["step"] == "convert"
    assert step["input_sha256"] == result.source.sha256
    assert step["output_sha256"] == variant.facts.sha256
    assert step["rep_data"]["sha256"]
    float_manifest = json.loads(result.variant("float32").manifest_path.read_text())
    assert float_manifest["chain"][0]["rep_data"] is None


def test_progress_events_bracket_each_mode(digits_all):
    _, events = digits_all
    assert {e.operation for e in events} == {"convert"}
    finished = [e for e in events if isinstance(e, TargetFinished)]
    assert [(e.target, e.ok) for e in finished] == [(m, True) for m in ALL]
    assert [e.data["index"] for e in finished] == list(range(1, len(ALL) + 1))
    assert all(e.data["total"] == len(ALL) and e.data["size_bytes"] > 0 for e in finished)
    # Stages: loading first (the whole conversion), then each mode converts, verifies,
    # evaluates, and finishes before the next one starts.
    stages = [
        (e.stage.value, e.target) if isinstance(e, StageStarted) else ("finished", e.target)
        for e in events
    ]
    assert stages[0] == ("load", "convert")
    assert stages[1:] == [
        (s, m) for m in ALL for s in ("convert", "verify", "evaluate", "finished")
    ]
    converts = [e for e in events if isinstance(e, StageStarted) and e.stage is Stage.CONVERT]
    assert [(e.index, e.total) for e in converts] == [(i, len(ALL)) for i in range(1, len(ALL) + 1)]


def test_result_json_has_the_documented_fields(digits_all):
    result, _ = digits_all
    doc = json.loads(json.dumps(result.to_json()))
    assert set(doc["source"]) == {"path", "sha256", "kind"}
    for variant in doc["variants"]:
        assert {
            "mode", "status", "path", "size_bytes", "sha256", "min_runtime_version",
            "min_runtime", "ops", "inputs", "outputs", "subgraphs", "convert_seconds",
            "metrics", "float_fallback_ops", "notes", "manifest",
        } <= set(variant)  # fmt: skip
        assert variant["status"] == "ok"
        for op in variant["ops"]:
            assert set(op) == {"name", "version", "count", "min_runtime", "first_release"}
            # every op of a digits model exists in the newest measured releases
            assert op["first_release"]["ai-edge-litert"], op
        for tensor in variant["inputs"] + variant["outputs"]:
            assert {"name", "signature_name", "shape", "shape_signature", "dtype"} <= set(tensor)
        assert variant["metrics"]["eval_output"] == "output_0"
        assert set(variant["metrics"]["outputs"]) == {"output_0"}
    assert doc["eval"]["float_accuracy"] == result.evaluation.float_accuracy


def test_demo_table_shows_every_mode_with_accuracy(demo):
    from tfstudio.cli.convert_cmd import render_result

    result, _ = demo
    assert result.keras_test_accuracy > 0.95
    table = render_result(result.conversion)
    lines = table.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("mode"))
    assert lines[header].split() == [
        "mode", "size", "ratio", "min", "runtime", "set", "by", "accuracy", "seconds",
    ]  # fmt: skip
    rows = [line.split() for line in lines[header + 2 : header + 7]]
    assert [r[0] for r in rows] == ALL
    assert rows[0][3] == "1.00x"
    assert all(r[-2].endswith("%") for r in rows)
    assert "float source accuracy" in table
    assert len(result.conversion.to_json()["variants"]) == len(ALL)
