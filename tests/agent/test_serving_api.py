"""serve answers TF Serving's REST API: the request and answer forms of TF Serving's own document.

Bodies marked "api_rest.md" are taken verbatim from TF Serving's REST API
document, `tensorflow_serving/g3doc/api/api_rest.md` in
github.com/tensorflow/serving (commit 660d28d846a3b07eb2bea72943256358ddaec67a):
its row format (`instances`), columnar format (`inputs`), named inputs, base64
values (`{"b64": ...}`), the `signature_name` field, the model status answer and
the curl calls of its example. The document's `javascript` blocks carry `//`
comments, which are left out; the rest is as printed, including the stray `]` in
its row example, which makes that body invalid JSON (so it gets 400; the same
body without it gets 200).

Where the document is silent, the expected answers follow TF Serving's handler
code in the same repository: `model_servers/http_rest_api_util.cc` (the path
regexes, versions and labels, case-insensitive), `model_servers/http_rest_api_handler.cc`
("Malformed request" for another /v1/ path, "Missing model name in request."),
`util/json_tensor.cc` (signature_name must be a string, `instances` and `inputs`
exclusive, row objects must have exactly the input names while a columnar object
may have more, `predictions` for rows and `outputs` for columns, unknown top-level
keys ignored, `_bytes` outputs as base64), `model_servers/get_model_status_impl.cc`
(versions newest first, "Could not find version N of model NAME"),
`core/server_core.cc` ("Unrecognized servable version label: L", 400),
`model_servers/http_server.cc` (InvalidArgument → 400, NotFound → 404), and
`model_servers/http_rest_api_util.cc`'s metadata printing (`GetModelMetadataResponse`
with `signature_name` "" and sizes as strings).

Differences kept on purpose, tested here too: a non-finite output is null (TF
Serving writes NaN/Infinity, which no strict JSON parser reads); `:classify` and
`:regress` answer 400, as TF Serving does for a model whose only signature is a
predict one (every .tflite).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest

from tests.agent.test_server import Server

# ---- api_rest.md, verbatim ----

DOC_STATUS = """{
 "model_version_status": [
  {
   "version": "123",
   "state": "AVAILABLE",
   "status": {
    "error_code": "OK",
    "error_message": ""
   }
  }
 ]
}"""
"""The answer of `curl http://localhost:8501/v1/models/saved_model_half_plus_three`."""

DOC_PREDICT = '{"instances": [1.0,2.0,5.0]}'
DOC_PREDICTIONS = """{
    "predictions": [3.5, 4.0, 5.5]
}"""
DOC_REGRESS = (
    '{"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}'
)
DOC_WRONG_NAME = '{"instances": [1.0,5.0]}'
DOC_WRONG_NAME_ANSWER = '{ "error": "Servable not found for request: Latest(half)" }'

DOC_SCALARS = """{
  "instances": [ "foo", "bar", "baz" ]
}"""
"""api_rest.md: 'List of 3 scalar tensors.' (its // comment left out)."""

DOC_PAIRS = """{
  "instances": [ [[1, 2]], [[3, 4]] ]
}"""
"""api_rest.md: 'List of 2 tensors each of [1, 2] shape' (its // comment left out)."""

DOC_ROW_NAMED = """{
 "instances": [
   {
     "tag": "foo",
     "signal": [1, 2, 3, 4, 5],
     "sensor": [[1, 2], [3, 4]]
   },
   {
     "tag": "bar",
     "signal": [3, 4, 1, 2, 5]],
     "sensor": [[4, 5], [6, 8]]
   }
 ]
}"""
"""api_rest.md's row example with three named inputs, stray `]` included."""

DOC_COLUMNAR_NAMED = """{
 "inputs": {
   "tag": ["foo", "bar"],
   "signal": [[1, 2, 3, 4, 5], [3, 4, 1, 2, 5]],
   "sensor": [[[1, 2], [3, 4]], [[4, 5], [6, 8]]]
 }
}"""

DOC_B64_VALUES = ('{ "b64": "aW1hZ2UgYnl0ZXM=" }', '{ "b64": "YXdlc29tZSBpbWFnZSBieXRlcw==" }')
"""The two base64 values of api_rest.md's "Encoding binary values" example."""

# The named-input example's answers: total = sum(signal) + sum(sensor), tag_bytes = tag.
NAMED_TOTALS = [15.0 + 10.0, 15.0 + 23.0]
FOO, BAR = (base64.b64encode(t).decode() for t in (b"foo", b"bar"))

OK_STATUS = {"error_code": "OK", "error_message": ""}


def _version_status(version: str, state: str = "AVAILABLE") -> dict:
    return {"version": version, "state": state, "status": OK_STATUS}


@pytest.fixture
def start_server(agent_home: Path) -> Iterator[Callable[..., Server]]:
    """start_server(*args, python=...) starts `serve` on the test's home (stopped afterwards)."""
    servers: list[Server] = []

    def start(*args: str, **kw: Any) -> Server:
        servers.append(Server(agent_home, *args, **kw))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def serve(agent, start_server, serving_models, tiny_models) -> Callable[..., Server]:
    """serve(("half_plus_three", NAME), ...): installs each model in order (the last
    one active) and starts a server."""

    def go(*models: tuple[str, str]) -> Server:
        for key, name in models:
            path = serving_models.get(key) or tiny_models[key]
            out = agent("install", str(path), "--name", name, "--json")
            assert out.rc == 0, out.stderr
        return start_server()

    return go


def post(server: Server, path: str, raw: str) -> tuple[int, Any]:
    return server.request("POST", path, raw=raw.encode())


def test_the_documents_example_answers_as_printed(serve) -> None:
    server = serve(("half_plus_three", "saved_model_half_plus_three"))
    code, status = server.request("GET", "/v1/models/saved_model_half_plus_three")
    expected = json.loads(DOC_STATUS)
    # The document's model lives in version directory 00000123; the agent numbers in
    # install order, so its first model is version 1.
    expected["model_version_status"][0]["version"] = "1"
    assert (code, status) == (200, expected)

    code, answer = post(server, "/v1/models/saved_model_half_plus_three:predict", DOC_PREDICT)
    assert (code, answer) == (200, json.loads(DOC_PREDICTIONS))
    assert server.headers["x-model-version"] == "1"
    assert len(server.headers["x-model-sha256"]) == 64

    code, answer = post(server, "/v1/models/half:predict", DOC_WRONG_NAME)
    assert (code, answer) == (404, json.loads(DOC_WRONG_NAME_ANSWER))

    # "default" names whatever the device serves.
    code, answer = post(server, "/v1/models/default:predict", DOC_PREDICT)
    assert (code, answer) == (200, json.loads(DOC_PREDICTIONS))
    # The same values in the columnar format come back under "outputs".
    code, answer = post(server, "/v1/models/default:predict", '{"inputs": [1.0,2.0,5.0]}')
    assert (code, answer) == (200, {"outputs": [3.5, 4.0, 5.5]})

    code, answer = post(server, "/v1/models/saved_model_half_plus_three:regress", DOC_REGRESS)
    assert code == 400 and set(answer) == {"error"} and "regress" in answer["error"]


def test_named_inputs_in_rows_and_columns(serve) -> None:
    server = serve(("tag_signal_sensor", "sensors"))
    path = "/v1/models/sensors:predict"
    code, answer = post(server, path, DOC_ROW_NAMED)
    assert code == 400 and set(answer) == {"error"} and "JSON" in answer["error"]

    code, answer = post(server, path, DOC_ROW_NAMED.replace("5]],", "5],"))
    assert code == 200, answer
    assert answer == {
        "predictions": [
            {"total": NAMED_TOTALS[0], "tag_bytes": {"b64": FOO}},
            {"total": NAMED_TOTALS[1], "tag_bytes": {"b64": BAR}},
        ]
    }

    code, answer = post(server, path, DOC_COLUMNAR_NAMED)
    assert code == 200, answer
    assert answer == {"outputs": {"total": NAMED_TOTALS, "tag_bytes": [{"b64": FOO}, {"b64": BAR}]}}

    # A columnar object may carry more than the inputs (TF Serving looks up the ones it
    # needs); a row object must have exactly the input names.
    more = json.loads(DOC_COLUMNAR_NAMED)
    more["inputs"]["extra"] = [1, 2]
    assert server.predict(more)[0] == 200
    rows = json.loads(DOC_ROW_NAMED.replace("5]],", "5],"))
    rows["instances"][1]["extra"] = 1
    code, answer = server.predict(rows)
    assert code == 400 and "extra" in answer["error"]
    del rows["instances"][1]["extra"], rows["instances"][1]["sensor"]
    code, answer = server.predict(rows)
    assert code == 400 and "sensor" in answer["error"]
    code, answer = server.predict({"instances": [[1, 2, 3, 4, 5]]})
    assert code == 400 and "list of objects" in answer["error"]
    code, answer = server.predict({"inputs": [[1, 2, 3, 4, 5]]})
    assert code == 400 and "object" in answer["error"]
    del more["inputs"]["signal"]
    code, answer = server.predict(more)
    assert code == 400 and "signal" in answer["error"]


def test_strings_scalars_and_base64(serve) -> None:
    server = serve(("echo", "echo"))
    code, answer = post(server, "/v1/models/echo:predict", DOC_SCALARS)
    assert code == 200, answer
    assert answer == {"predictions": ["foo", "bar", "baz"]}
    b64_rows = '{"instances": [' + ", ".join(DOC_B64_VALUES) + "]}"
    code, answer = post(server, "/v1/models/echo:predict", b64_rows)
    assert (code, answer) == (200, {"predictions": ["image bytes", "awesome image bytes"]})
    b64_named = '{"instances": [{"text": ' + DOC_B64_VALUES[0] + "}]}"
    code, answer = post(server, "/v1/models/echo:predict", b64_named)
    assert (code, answer) == (200, {"predictions": ["image bytes"]})
    code, answer = server.predict({"inputs": {"text": ["a", {"b64": "/w=="}]}})
    # Bytes that are not UTF-8 cannot be a JSON string: they come back as base64.
    assert (code, answer) == (200, {"outputs": ["a", {"b64": "/w=="}]})

    code, answer = server.predict({"instances": [{"b64": "not base64!"}]})
    assert code == 400 and "base64" in answer["error"]
    code, answer = server.predict({"instances": [1, 2]})
    assert code == 400 and "string" in answer["error"]


def test_nested_list_instances(serve) -> None:
    server = serve(("pairs", "pairs"))
    code, answer = post(server, "/v1/models/pairs:predict", DOC_PAIRS)
    assert (code, answer) == (200, {"predictions": [[[2.0, 4.0]], [[6.0, 8.0]]]})


def _direct_signature(model: Path, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    from edge_agent import runtime

    interp = runtime.make_interpreter(model_path=str(model))
    return interp.get_signature_runner("serving_default")(**inputs)


def test_every_output_comes_back_by_its_signature_name(serve, serving_models) -> None:
    server = serve(("two_heads", "heads"))
    x = np.random.default_rng(5).random((3, 8), dtype=np.float32)
    expected = {
        name: np.concatenate(
            [
                _direct_signature(serving_models["two_heads"], features=x[i : i + 1])[name]
                for i in range(3)
            ]
        )
        for name in ("output_0", "output_1")
    }
    code, answer = server.predict({"instances": x.tolist()})
    assert code == 200, answer
    assert len(answer["predictions"]) == 3
    for name, values in expected.items():
        got = np.asarray([row[name] for row in answer["predictions"]], np.float32)
        np.testing.assert_array_equal(got, values)

    code, answer = server.predict({"inputs": {"features": x.tolist()}})
    assert code == 200 and set(answer["outputs"]) == {"output_0", "output_1"}
    for name, values in expected.items():
        np.testing.assert_array_equal(np.asarray(answer["outputs"][name], np.float32), values)

    code, meta = server.request("GET", "/v1/models/heads/metadata")
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    outputs = signature["outputs"]
    assert set(outputs) == {"output_0", "output_1"}
    assert {o["name"] for o in outputs.values()} == {
        "StatefulPartitionedCall_1:0",
        "StatefulPartitionedCall_1:1",
    }
    assert [d["size"] for d in outputs["output_0"]["tensor_shape"]["dim"]] == ["-1", "3"]
    assert [d["size"] for d in outputs["output_1"]["tensor_shape"]["dim"]] == ["-1", "1"]


def test_signature_name_is_checked(serve) -> None:
    server = serve(("half_plus_three", "half"))
    for name in ("serving_default", ""):
        code, answer = server.predict({"signature_name": name, "instances": [1.0]})
        assert (code, answer) == (200, {"predictions": [3.5]})
    code, answer = server.predict({"signature_name": "nope", "instances": [1.0]})
    assert (code, answer) == (
        400,
        {"error": 'Serving signature name: "nope" not found in signature def'},
    )
    code, answer = post(server, "/v1/models/half:predict", '{ "signature_name": 100 }')
    assert code == 400 and "'signature_name' key must be a string value." in answer["error"]


def test_request_shapes_tf_serving_refuses(serve) -> None:
    server = serve(("float32", "mlp"))
    row = [[0.5] * 64]
    refused = [
        ({"instances": row, "inputs": row}, "only one of 'inputs' or 'instances'"),
        ({"foo": 1}, "Missing 'inputs' or 'instances' key"),
        ({"instances": 5}, "list"),
        ({"instances": []}, "No values"),
        ({"instances": [{"b64": "AAAA"}]}, "float32"),
        ({"instances": [[True] * 64]}, "float32"),
        ({"instances": [[1e39] * 64]}, "without loss of precision"),
    ]
    for body, needle in refused:
        code, answer = server.predict(body)
        assert code == 400 and set(answer) == {"error"}, (body, answer)
        assert needle in answer["error"], (body, answer)
    code, answer = post(server, "/v1/models/mlp:predict", "[1, 2]")
    assert code == 400 and "Is not object" in answer["error"]
    # TF Serving reads signature_name, instances and inputs, and ignores other keys.
    code, answer = server.predict({"instances": row, "comment": "ignored"})
    assert code == 200 and len(answer["predictions"]) == 1


def test_paths_versions_and_labels(agent, serve) -> None:
    server = serve(("float32", "mlp"), ("int8", "mlp"))
    both = {"model_version_status": [_version_status("2"), _version_status("1", "END")]}
    for path in ("/v1/models/mlp", "/v1/models/default", "/V1/MODELS/mlp"):
        assert server.request("GET", path) == (200, both), path
    one = {"model_version_status": [_version_status("1", "END")]}
    assert server.request("GET", "/v1/models/mlp/versions/1") == (200, one)
    stable = {"model_version_status": [_version_status("2")]}
    assert server.request("GET", "/v1/models/mlp/labels/stable") == (200, stable)
    assert server.request("GET", "/v1/models/mlp/labels/previous") == (200, one)

    missing = [
        ("/v1/models/mlp/versions/7", 404, "Could not find version 7 of model mlp"),
        ("/v1/models/other", 404, "Could not find any versions of model other"),
        ("/v1/models/mlp/labels/nope", 400, "Unrecognized servable version label: nope"),
        ("/v1/models", 400, "Missing model name in request."),
        ("/v1/models/mlp/versions/x", 400, "Malformed request: GET /v1/models/mlp/versions/x"),
        ("/v1/models/mlp:predict", 400, "Malformed request: GET /v1/models/mlp:predict"),
        ("/v1/models/mlp/versions/1/metadata", 404,
         "Servable not found for request: Specific(mlp, 1)"),
    ]  # fmt: skip
    for path, code, error in missing:
        assert server.request("GET", path) == (code, {"error": error}), path

    x = {"instances": np.zeros((1, 64), np.int8).tolist()}
    for path in ("/v1/models/mlp/versions/2", "/v1/models/mlp/labels/stable", "/v1/models/mlp"):
        code, answer = server.request("POST", path + ":predict", x)
        assert code == 200 and len(answer["predictions"]) == 1, path
        assert server.headers["x-model-version"] == "2"
    code, answer = server.request("POST", "/v1/models/mlp/versions/1:predict", x)
    assert (code, answer) == (404, {"error": "Servable not found for request: Specific(mlp, 1)"})
    code, answer = server.request("POST", "/v1/models/mlp/labels/previous:predict", x)
    assert (code, answer) == (404, {"error": "Servable not found for request: Specific(mlp, 1)"})
    code, answer = server.request("POST", "/v1/models/mlp", x)
    assert (code, answer) == (400, {"error": "Malformed request: POST /v1/models/mlp"})
    assert server.request("GET", "/v2/models/mlp")[0] == 404

    # Rolling back moves both labels; a version keeps its number.
    assert agent("rollback", "--json").rc == 0
    wanted = {"model_version_status": [_version_status("2", "END"), _version_status("1")]}
    assert _eventually(lambda: server.request("GET", "/v1/models/mlp"), (200, wanted))
    assert server.request("GET", "/v1/models/mlp/labels/stable") == (200, {
        "model_version_status": [_version_status("1")]
    })  # fmt: skip


def _eventually(call: Callable[[], Any], wanted: Any, timeout: float = 20.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if call() == wanted:
            return True
        time.sleep(0.1)
    return call() == wanted


def test_model_names_are_url_decoded(serve) -> None:
    server = serve(("half_plus_three", "half plus three"))
    code, status = server.request("GET", "/v1/models/half%20plus%20three")
    assert code == 200 and status["model_version_status"][0]["version"] == "1"
    code, answer = server.request("POST", "/v1/models/half%20plus%20three:predict",
                                  {"instances": [2.0]})  # fmt: skip
    assert (code, answer) == (200, {"predictions": [4.0]})


def test_metadata_is_get_model_metadata(serve, tiny_models) -> None:
    server = serve(("int8", "mlp"))
    code, meta = server.request("GET", "/v1/models/mlp/metadata")
    assert code == 200, meta
    assert set(meta) == {"model_spec", "metadata"}
    assert meta["model_spec"] == {"name": "mlp", "signature_name": "", "version": "1"}
    defs = meta["metadata"]["signature_def"]["signature_def"]
    assert set(defs) == {"serving_default"}
    signature = defs["serving_default"]
    assert set(signature) == {"inputs", "outputs", "method_name"}
    assert signature["method_name"] == "tensorflow/serving/predict"
    ((in_name, tensor_in),) = signature["inputs"].items()
    assert tensor_in == {
        "dtype": "DT_INT8",
        "tensor_shape": {
            "dim": [{"size": "-1", "name": ""}, {"size": "64", "name": ""}],
            "unknown_rank": False,
        },
        "name": f"serving_default_{in_name}:0",
    }
    ((out_name, tensor_out),) = signature["outputs"].items()
    assert out_name == "output_0" and tensor_out["dtype"] == "DT_INT8"
    # Beside TF Serving's signature_def: the model's provenance and quantization.
    tflite = meta["metadata"]["tflite"]
    sha = server.headers.get("x-model-sha256")
    assert tflite["sha256"] == sha and len(sha) == 64
    assert tflite["name"] == "mlp" and tflite["labels"] == ["stable"]
    tensor = tflite["signatures"]["serving_default"]["inputs"][in_name]
    assert tensor["dtype"] == "int8" and tensor["shape"] == [1, 64]
    assert tensor["quantization"]["scale"] > 0
    for path in ("/v1/models/default/metadata", "/v1/models/mlp/labels/stable/metadata",
                 "/v1/models/mlp/versions/1/metadata"):  # fmt: skip
        assert server.request("GET", path) == (200, meta), path


def test_errors_are_one_json_line(serve) -> None:
    server = serve(("float32", "mlp"))
    server.conn.request("POST", "/v1/models/mlp:predict", body=b'{"instances": [[1, 2]]}')
    response = server.conn.getresponse()
    text = response.read().decode()
    assert response.status == 400
    assert response.getheader("Content-Type") == "application/json"
    assert text.count("\n") == 1 and set(json.loads(text)) == {"error"}
    assert "Traceback" not in text


def test_the_old_runtime_answers_alike(agent, start_server, serving_models, device_venvs) -> None:
    """tflite-runtime 2.14 with numpy 1 (the old device) reads signatures the same way."""
    assert agent("install", str(serving_models["two_heads"]), "--name", "heads").rc == 0
    server = start_server(python=str(device_venvs["old-device"]))
    x = np.random.default_rng(9).random((2, 8), dtype=np.float32)
    code, answer = server.predict({"instances": x.tolist()})
    assert (
        code == 200
        and [set(row) for row in answer["predictions"]] == [{"output_0", "output_1"}] * 2
    )
    for i in range(2):
        direct = _direct_signature(serving_models["two_heads"], features=x[i : i + 1])
        for name in ("output_0", "output_1"):
            np.testing.assert_array_equal(
                np.asarray(answer["predictions"][i][name], np.float32), direct[name][0]
            )
    out = agent("install", str(serving_models["tag_signal_sensor"]), "--name", "sensors", "--json")
    assert out.rc == 0
    wanted = (200, {"outputs": {"total": NAMED_TOTALS, "tag_bytes": [{"b64": FOO}, {"b64": BAR}]}})
    assert _eventually(
        lambda: post(server, "/v1/models/sensors:predict", DOC_COLUMNAR_NAMED), wanted
    )


def test_a_model_without_signature_defs_is_named_after_its_tensors() -> None:
    """An old converter's model has no signature defs: one serving_default is made up, with
    its tensors' names, or input_N/output_N where those collide (as TF 2.21's do)."""
    from edge_agent.signatures import read_signatures

    class Bare:
        def get_signature_list(self) -> dict:
            return {}

        def get_input_details(self) -> list[dict]:
            return [{"name": "serving_default_x:0", "index": 0}]

        def get_output_details(self) -> list[dict]:
            return [
                {"name": "StatefulPartitionedCall_1:0", "index": 5},
                {"name": "StatefulPartitionedCall_1:1", "index": 6},
            ]

    signatures = read_signatures(Bare())
    assert list(signatures) == ["serving_default"]
    only = signatures["serving_default"]
    assert list(only.inputs) == ["x"] and only.runner is None
    assert {k: d["index"] for k, d in only.outputs.items()} == {"output_0": 5, "output_1": 6}
