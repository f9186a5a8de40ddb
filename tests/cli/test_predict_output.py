"""`tfstudio predict` reads the agent's TF Serving answers: every output by name, one as before.

Offline: metadata and predict bodies of the shapes the agent's server sends
(tests/agent/test_serving_api.py checks the server sends them), and of the
agent before them (0.4.0), read and printed without a device.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfstudio.cli.predict_cmd import _print_prediction
from tfstudio.tunnel.predict import PredictResult, interface, read_predictions

SHA = "ab" * 32


def _tensor(dtype: str, dims: list[int], name: str) -> dict:
    return {
        "dtype": dtype,
        "tensor_shape": {
            "dim": [{"size": str(d), "name": ""} for d in dims],
            "unknown_rank": False,
        },
        "name": name,
    }


TWO_HEADS_META = {
    "model_spec": {"name": "heads", "signature_name": "", "version": "3"},
    "metadata": {
        "signature_def": {
            "signature_def": {
                "serving_default": {
                    "inputs": {
                        "features": _tensor("DT_FLOAT", [-1, 8], "serving_default_features:0")
                    },
                    "outputs": {
                        "output_0": _tensor("DT_FLOAT", [-1, 3], "StatefulPartitionedCall_1:0"),
                        "output_1": _tensor("DT_INT8", [-1, 1], "StatefulPartitionedCall_1:1"),
                    },
                    "method_name": "tensorflow/serving/predict",
                }
            }
        },
        "tflite": {
            "sha256": SHA,
            "name": "heads",
            "version": "3",
            "labels": ["stable"],
            "signatures": {
                "serving_default": {
                    "inputs": {
                        "features": {"tensor": "serving_default_features:0", "dtype": "float32",
                                     "shape": [1, 8], "quantization": None},
                    },
                    "outputs": {
                        "output_0": {"tensor": "StatefulPartitionedCall_1:0", "dtype": "float32",
                                     "shape": [1, 3], "quantization": None},
                        "output_1": {"tensor": "StatefulPartitionedCall_1:1", "dtype": "int8",
                                     "shape": [1, 1],
                                     "quantization": {"scale": 0.5, "zero_point": -2}},
                    },
                }
            },
        },
    },
}  # fmt: skip

OLD_AGENT_META = {
    "model_spec": {"name": "default", "version": SHA, "signature_name": "serving_default"},
    "metadata": {
        "inputs": [{"name": "x", "tensor_name": "serving_default_x:0", "shape": [1, 64],
                    "dtype": "int8", "quantization": {"scale": 0.1, "zero_point": 3}}],
        "outputs": [{"name": "output_0", "tensor_name": "StatefulPartitionedCall:0",
                     "shape": [1, 10], "dtype": "float32", "quantization": None}],
    },
}  # fmt: skip
"""What the agent's server answered before it took TF Serving's shapes."""


def test_the_metadata_of_both_agent_generations() -> None:
    found = interface(TWO_HEADS_META)
    assert [t.name for t in found.inputs] == ["features"]
    assert [(t.name, t.dtype, t.shape) for t in found.outputs] == [
        ("output_0", "float32", (1, 3)),
        ("output_1", "int8", (1, 1)),
    ]
    assert found.sha256 == SHA and found.version == "3"
    old = interface(OLD_AGENT_META)
    assert [(t.name, t.dtype, t.quantization) for t in old.inputs] == [
        ("x", "int8", {"scale": 0.1, "zero_point": 3})
    ]
    assert old.sha256 == SHA and old.version is None


def test_every_output_is_read_by_name_in_real_units() -> None:
    outputs = interface(TWO_HEADS_META).outputs
    predictions = [
        {"output_0": [0.1, 0.7, 0.2], "output_1": [4]},
        {"output_0": [0.6, 0.3, 0.1], "output_1": [-2]},
    ]
    values, top1, by_name = read_predictions(predictions, outputs)
    assert values is None and top1 is None
    assert by_name is not None and list(by_name) == ["output_0", "output_1"]
    assert by_name["output_0"] == {"values": [[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]], "top1": [1, 0]}
    # int8 output_1 in real units: (q - zero_point) * scale; one value has no top-1.
    assert by_name["output_1"] == {"values": [[3.0], [0.0]], "top1": None}
    one = interface(OLD_AGENT_META).outputs
    values, top1, by_name = read_predictions([[0.0] * 9 + [1.0]], one)
    assert values == [[0.0] * 9 + [1.0]] and top1 == [9] and by_name is None


def _result(**kw: object) -> PredictResult:
    base: dict = {
        "device": "cam",
        "model_version": "3",
        "model_name": "heads",
        "instances": 2,
        "predictions": [],
        "values": None,
        "top1": None,
        "round_trip_ms": 2.5,
        "metadata_ms": 1.0,
        "model_sha256": SHA,
    }
    base.update(kw)
    return PredictResult(**base)  # type: ignore[arg-type]


def test_one_output_prints_and_reads_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    result = _result(
        model_name="mlp", instances=1, predictions=[[0.25, 0.75]], values=[[0.25, 0.75]], top1=[1]
    )
    _print_prediction(result)
    assert capsys.readouterr().out == (
        f"cam: mlp ({SHA[:12]}), 1 instance, round trip 2.5 ms\n  [0] top-1 1: [0.25, 0.75]\n"
    )
    assert "outputs" not in result.to_json()
    assert result.to_json()["top1"] == [1]


def test_several_outputs_print_each_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = interface(TWO_HEADS_META).outputs
    predictions = [
        {"output_0": [0.1, 0.7, 0.2], "output_1": [4]},
        {"output_0": [0.6, 0.3, 0.1], "output_1": [-2]},
    ]
    _, _, by_name = read_predictions(predictions, outputs)
    result = _result(predictions=predictions, outputs=by_name)
    _print_prediction(result)
    assert capsys.readouterr().out.splitlines() == [
        f"cam: heads ({SHA[:12]}), 2 instances, round trip 2.5 ms",
        "  [0] output_0: top-1 1: [0.1, 0.7, 0.2]",
        "      output_1: [3]",
        "  [1] output_0: top-1 0: [0.6, 0.3, 0.1]",
        "      output_1: [0]",
    ]
    as_json = json.loads(json.dumps(result.to_json()))
    assert set(as_json["outputs"]) == {"output_0", "output_1"}
    np.testing.assert_allclose(as_json["outputs"]["output_1"]["values"], [[3.0], [0.0]])
