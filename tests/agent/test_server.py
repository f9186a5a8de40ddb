"""serve: TF-Serving-shaped REST API, Prometheus metrics, token, hot reload, inbox pickup.

The server is a real `python -m edge_agent serve` process on an ephemeral
port; the tests talk HTTP to it and compare with a direct interpreter call.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import select
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

from tests.agent.conftest import REPO, agent_cmd, agent_env


class Server:
    """A running `serve` process and an HTTP client for it."""

    def __init__(
        self, home: Path, *args: str, python: Optional[str] = None, token: str = ""
    ) -> None:
        self.proc = subprocess.Popen(
            agent_cmd(home, "serve", "--port", "0", "--json", *args, python=python),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=agent_env(),
            cwd=str(REPO),
        )
        self.token = token
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise AssertionError(f"server did not start: {self.proc.stderr.read()}")
        self.info = json.loads(line)
        self.port = self.info["port"]
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.headers: dict[str, str] = {}
        """The headers of the last answer (lowercase names)."""

    def request(self, method: str, path: str, body: Any = None, raw: Optional[bytes] = None,
                headers: Optional[dict] = None) -> tuple[int, Any]:  # fmt: skip
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json"}
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        hdrs.update(headers or {})
        self.conn.request(method, path, body=data, headers=hdrs)
        resp = self.conn.getresponse()
        payload = resp.read().decode()
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        if resp.getheader("Content-Type", "").startswith("application/json"):
            return resp.status, json.loads(payload)
        return resp.status, payload

    def predict(self, body: Any) -> tuple[int, Any]:
        return self.request("POST", "/v1/models/default:predict", body)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def start_server(agent_home):
    servers = []

    def start(*args: str, **kw: Any) -> Server:
        server = Server(kw.pop("home", agent_home), *args, **kw)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def float_model(agent, tiny_models):
    out = agent("install", str(tiny_models["float32"]), "--json")
    assert out.rc == 0
    return out.json["sha256"]


def direct(model: Path, x: np.ndarray) -> np.ndarray:
    from edge_agent import runtime

    interp = runtime.make_interpreter(model_path=str(model))
    return runtime.run_once(interp, [x])[0]


def test_predict_equals_direct_interpreter_call(start_server, float_model, tiny_models):
    server = start_server()
    rng = np.random.default_rng(7)
    x = rng.random((1, 64), dtype=np.float32)
    code, answer = server.predict({"instances": x.tolist()})
    assert code == 200, answer
    np.testing.assert_array_equal(
        np.asarray(answer["predictions"], np.float32), direct(tiny_models["float32"], x)
    )
    assert server.headers["x-model-sha256"] == float_model
    assert server.headers["x-model-version"] == "1"

    batch = rng.random((3, 64), dtype=np.float32)
    code, answer = server.predict({"inputs": batch.tolist()})
    assert code == 200
    expected = np.concatenate([direct(tiny_models["float32"], batch[i : i + 1]) for i in range(3)])
    np.testing.assert_array_equal(np.asarray(answer["outputs"], np.float32), expected)


def test_predict_int8_model_takes_int8_values(agent, start_server, tiny_models):
    assert agent("install", str(tiny_models["int8"]), "--json").rc == 0
    server = start_server()
    x = np.random.default_rng(3).integers(-128, 128, size=(1, 64)).astype(np.int8)
    code, answer = server.predict({"instances": x.tolist()})
    assert code == 200, answer
    np.testing.assert_array_equal(
        np.asarray(answer["predictions"], np.int8), direct(tiny_models["int8"], x)
    )
    code, answer = server.predict({"instances": [[300] * 64]})
    assert code == 400 and "[-128, 127]" in answer["error"]
    code, answer = server.predict({"instances": [[0.5] * 64]})
    assert code == 400 and "int8" in answer["error"]


def test_status_and_metadata(start_server, float_model):
    server = start_server()
    code, status = server.request("GET", "/v1/models/default")
    assert code == 200
    assert status["model_version_status"][0]["version"] == "1"
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    code, meta = server.request("GET", "/v1/models/default/metadata")
    assert code == 200
    assert meta["model_spec"]["version"] == "1"
    assert meta["metadata"]["tflite"]["sha256"] == float_model
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    ((tensor_in,),) = [list(signature["inputs"].values())]
    assert [d["size"] for d in tensor_in["tensor_shape"]["dim"]] == ["-1", "64"]
    assert tensor_in["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in signature["outputs"]["output_0"]["tensor_shape"]["dim"]] == [
        "-1",
        "10",
    ]
    code, _ = server.request("GET", "/v1/models/other")
    assert code == 404


BAD_REQUESTS = [
    (b"{not json", "bad request"),
    (b"[1, 2, 3]", "JSON object"),
    (b'{"foo": 1}', "instances"),
    (b'{"instances": []}', "No values"),
    (b'{"instances": [[1, 2, 3]]}', "shape"),
    (b'{"instances": [[[1, 2], [3]]]}', "rectangular"),
    (b'{"instances": [["a", "b"]]}', "numbers"),
    (b'{"inputs": {"nope": [[1]]}}', "Missing named input"),
]


def test_bad_requests_get_400_and_server_survives(start_server, float_model):
    server = start_server()
    for raw, needle in BAD_REQUESTS:
        code, answer = server.request("POST", "/v1/models/default:predict", raw=raw)
        assert code == 400, raw
        assert needle in answer["error"], (raw, answer)
        code, _ = server.predict({"instances": [[0.0] * 64]})
        assert code == 200
    code, answer = server.request("POST", "/v1/models/default:predict", raw=b"x" * 10,
                                  headers={"Content-Length": "-5"})  # fmt: skip
    assert code == 400


METRIC_LINE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})? '
    r"(?P<value>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?Inf|NaN)$"
)


def parse_prometheus(text: str) -> dict:
    """Parses the text format strictly: every line is a comment or a sample."""
    samples: dict = {}
    typed: dict = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped")
            typed[name] = kind
            continue
        match = METRIC_LINE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        samples[(match.group("name"), match.group("labels") or "")] = float(match.group("value"))
    for name, _ in samples:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or base in typed, f"{name} has no TYPE"
    return samples


def test_metrics_parse_as_prometheus_text(start_server, float_model):
    server = start_server()
    for _ in range(3):
        assert server.predict({"instances": [[0.1] * 64]})[0] == 200
    assert server.request("POST", "/v1/models/default:predict", raw=b"{")[0] == 400
    code, text = server.request("GET", "/metrics")
    assert code == 200
    samples = parse_prometheus(text)
    assert samples[("tfstudio_agent_requests_total", 'endpoint="predict",code="200"')] == 3
    assert samples[("tfstudio_agent_requests_total", 'endpoint="predict",code="400"')] == 1
    assert samples[("tfstudio_agent_request_errors_total", "")] == 1
    assert samples[("tfstudio_agent_predict_latency_seconds_count", "")] == 3
    assert samples[("tfstudio_agent_predict_latency_seconds_bucket", 'le="+Inf"')] == 3
    assert samples[("tfstudio_agent_active_model", f'sha256="{float_model}",name="mlp"')] == 1


def test_beyond_loopback_needs_a_token(agent, agent_home):
    run = agent("serve", "--host", "0.0.0.0", "--port", "0", "--json", timeout=30)
    assert run.rc == 2
    assert run.json["code"] == "usage" and "token" in run.json["error"]
    run = agent("serve", "--host", "0.0.0.0", "--port", "0", timeout=30)
    assert run.rc == 2 and len(run.stderr.strip().splitlines()) == 1


def test_token_is_required_on_every_request(start_server, float_model):
    server = start_server("--host", "0.0.0.0", "--token", "s3cret-token")
    server.token = ""
    for method, path in [("GET", "/v1/models/default"), ("GET", "/metrics")]:
        assert server.request(method, path)[0] == 401
    code, _ = server.request("POST", "/v1/models/default:predict", {"instances": [[0.0] * 64]})
    assert code == 401
    bad = {"Authorization": "Bearer wrong"}
    assert server.request("GET", "/v1/models/default", headers=bad)[0] == 401
    server.token = "s3cret-token"
    assert server.predict({"instances": [[0.0] * 64]})[0] == 200


def test_status_shows_the_server(agent, start_server, float_model, agent_home):
    server = start_server()
    status = agent("status", "--json").json
    assert status["server"]["running"] is True
    assert status["server"]["port"] == server.port
    assert status["server"]["pid"] == server.proc.pid
    assert status["active"]["sha256"] == float_model
    assert server.stop() == 0
    assert agent("status", "--json").json["server"]["running"] is False


def hammer(server: Server, stop: threading.Event, results: list) -> None:
    x = {"instances": [[0.25] * 64]}
    while not stop.is_set():
        try:
            code, _ = server.predict(x)
            results.append((code, server.headers.get("x-model-sha256")))
        except Exception as exc:  # noqa: BLE001 - a lost request is what we count
            results.append((-1, repr(exc)))


@pytest.mark.parametrize("python", ["studio", "device"])
def test_hot_reload_loses_no_request(agent, start_server, tiny_models, device_venvs, python):
    """500+ requests while another model is activated: all answered, the version switches."""
    py = str(device_venvs["device"]) if python == "device" else None
    first = agent("install", str(tiny_models["float32"]), "--json").json["sha256"]
    second = agent("install", str(tiny_models["float16"]), "--no-activate", "--json").json["sha256"]
    server = start_server(python=py)
    # The device venv has no watchdog: it must fall back to polling.
    assert server.info["watch"] == ("polling" if python == "device" else "watchdog")
    results: list = []
    stop = threading.Event()
    worker = threading.Thread(target=hammer, args=(server, stop, results))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while len(results) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert agent("activate", second, "--json").rc == 0
        while time.monotonic() < deadline and not (
            len(results) >= 500 and results[-1][1] == second
        ):
            time.sleep(0.01)
    finally:
        stop.set()
        worker.join(timeout=30)
    failures = [r for r in results if r[0] != 200]
    assert not failures, failures[:3]
    assert len(results) >= 500
    versions = [v for _, v in results]
    switch = versions.index(second)
    assert set(versions[:switch]) == {first} and set(versions[switch:]) == {second}


def test_inbox_drop_is_installed_and_served(
    agent, start_server, tiny_models, agent_home, float_model
):
    server = start_server()
    target = tiny_models["int8"]
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    inbox = agent_home / "inbox"
    # A corrupt upload under a sha name is refused and removed; the old model keeps serving.
    bad = inbox / f"{'a' * 64}.tflite"
    bad.write_bytes(target.read_bytes())
    partial = inbox / f"{digest}.partial"
    shutil.copyfile(target, partial)
    partial.rename(inbox / f"{digest}.tflite")
    deadline = time.monotonic() + 30
    version = None
    while time.monotonic() < deadline:
        code, _ = server.request("GET", "/v1/models/default/metadata")
        version = server.headers.get("x-model-sha256")
        if version == digest:
            break
        assert code == 200
        time.sleep(0.1)
    assert version == digest
    assert agent("list", "--json").json["active"] == digest
    assert not (inbox / f"{digest}.tflite").exists()
    assert not bad.exists()


def test_server_without_active_model_answers_503_until_one_is_installed(
    agent, start_server, tiny_models
):
    server = start_server()
    assert server.request("GET", "/v1/models/default")[0] == 503
    assert server.predict({"instances": [[0.0] * 64]})[0] == 503
    sha = agent("install", str(tiny_models["float32"]), "--json").json["sha256"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and server.request("GET", "/v1/models/default")[0] != 200:
        time.sleep(0.1)
    code, status = server.request("GET", "/v1/models/default")
    assert code == 200 and status["model_version_status"][0]["version"] == "1"
    assert server.request("GET", "/v1/models/default/metadata")[0] == 200
    assert server.headers["x-model-sha256"] == sha


def test_reload_failure_keeps_serving_the_old_model(agent, start_server, tiny_models, device_venvs):
    """The new model cannot load in the server's runtime: the old one keeps answering."""
    old_py = str(device_venvs["old-device"])
    first = agent("install", str(tiny_models["int8"]), "--json", python=old_py).json["sha256"]
    server = start_server(python=old_py)
    # Another runtime (the studio's ai-edge-litert) accepts and activates a model that
    # the server's tflite-runtime 2.14 cannot load (FULLY_CONNECTED v12).
    newer = agent("install", str(tiny_models["dynamic"]), "--json")
    assert newer.rc == 0 and newer.json["active"] != first
    deadline = time.monotonic() + 20
    failed = 0.0
    while time.monotonic() < deadline and not failed:
        samples = parse_prometheus(server.request("GET", "/metrics")[1])
        failed = samples.get(("tfstudio_agent_model_reloads_total", 'result="failed"'), 0.0)
        time.sleep(0.1)
    assert failed == 1
    code, answer = server.predict({"instances": [[0] * 64]})
    assert code == 200 and server.headers["x-model-sha256"] == first
    # The status says so, as TF Serving shows a version that failed to load.
    code, status = server.request("GET", "/v1/models/default")
    assert code == 200
    newest, served = status["model_version_status"]
    assert newest["version"] == "2" and newest["state"] == "END"
    assert newest["status"]["error_code"] == "UNKNOWN" and newest["status"]["error_message"]
    assert served == {
        "version": "1",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
