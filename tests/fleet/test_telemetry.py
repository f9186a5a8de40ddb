"""The agent as a service on sshd devices, live metrics and predict through the SSH tunnel.

Real loopback sshd devices with their own users: `agent serve --enable` starts
the supervised serve on the device's 127.0.0.1 only, `predict` and `metrics`
reach it through a direct-tcpip channel of the studio's SSH connection, and
the counts the studio reads back match the requests it sent.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.agent.test_server import direct
from tests.fleet.conftest import Lab, stop_service
from tests.helpers.net import listening_addresses
from tests.helpers.sshd import processes_with
from tfstudio.cli import main
from tfstudio.cli.deploy_cmd import connector
from tfstudio.fleet.registry import get_device
from tfstudio.tunnel.telemetry import MetricsSession

REPO = Path(__file__).resolve().parents[2]


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


def test_service_runs_on_the_device_loopback_only(served, capsys) -> None:
    device, state = served
    assert state["running"] and state["mode"] == "process" and state["changed"] is True
    assert state["active"]["name"] == "mlp.float32.tflite"
    assert "token" not in state  # the studio keeps the token to itself
    assert listening_addresses(state["port"]) == ["127.0.0.1"]

    assert main(["devices", "check", "tele", "--json"]) == 0
    (check,) = _json(capsys)
    assert check["service"]["running"] and check["service"]["port"] == state["port"]
    assert main(["devices", "check", "tele"]) == 0
    assert "up " in capsys.readouterr().out

    assert main(["agent", "serve", "tele", "--status"]) == 0
    out = capsys.readouterr().out
    assert f"running (process) on 127.0.0.1:{state['port']}" in out
    assert "model mlp.float32.tflite" in out


def test_metrics_count_the_predicts_sent_through_the_tunnel(
    served, tiny_models, tmp_path, capsys
) -> None:
    rng = np.random.default_rng(3)
    sent = 0
    for n in (1, 1, 3, 1, 2):  # 5 requests, 8 instances
        x = rng.random((n, 64), dtype=np.float32)
        np.save(tmp_path / "x.npy", x)
        assert main(["predict", "tele", "--input", str(tmp_path / "x.npy"), "--json"]) == 0
        answer = _json(capsys)
        expected = np.concatenate([direct(tiny_models["float32"], x[i : i + 1]) for i in range(n)])
        np.testing.assert_allclose(np.asarray(answer["values"]), expected, rtol=1e-6)
        assert answer["top1"] == expected.argmax(axis=1).tolist()
        sent += 1
    assert main(["metrics", "tele", "--json"]) == 0
    (metrics,) = _json(capsys)
    assert metrics["ok"] and metrics["predicts"] == sent == 5
    assert metrics["instances"] == 8 and metrics["errors"] == 0
    assert metrics["invoke_latency"]["count"] == 8
    assert metrics["request_latency"]["count"] == 5
    assert 0 < metrics["request_latency"]["p50_ms"] <= metrics["request_latency"]["p99_ms"]
    assert metrics["active"]["name"] == "mlp.float32.tflite"
    assert metrics["uptime_s"] > 0 and metrics["since_start"] is True

    assert main(["metrics", "tele"]) == 0
    table = capsys.readouterr().out
    assert "mlp.float32.tflite" in table and "start" in table

    one = tmp_path / "one.npy"
    np.save(one, rng.random(64, dtype=np.float32))  # one example without its batch axis
    assert main(["predict", "tele", "--input", str(one)]) == 0
    assert "1 instance" in capsys.readouterr().out
    np.save(one, np.zeros((2, 3), np.float32))
    assert main(["predict", "tele", "--input", str(one)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has shape (2, 3)" in err[0]


def test_a_session_follows_the_service_across_a_crash(served, tmp_path) -> None:
    device, state = served
    session = MetricsSession(get_device("tele"), connector())
    try:
        first = session.poll()
        assert first.ok and first.since_start and first.predicts == 0
        x = tmp_path / "x.npy"
        np.save(x, np.ones((1, 64), np.float32))
        for _ in range(3):
            assert main(["predict", "tele", "--input", str(x), "--json"]) == 0
        second = session.poll()
        assert second.ok and not second.since_start and second.predicts == 3
        assert second.window_s and second.predict_rate == pytest.approx(
            3 / second.window_s, rel=0.01
        )
        os.kill(state["pid"], signal.SIGKILL)  # serve crashes; the supervisor restarts it
        deadline = time.monotonic() + 20
        seen_error = False
        while True:
            current = session.poll()
            if current.ok and current.since_start and current.predicts == 0:
                break
            seen_error = seen_error or not current.ok
            assert time.monotonic() < deadline, current
            time.sleep(0.2)
        assert current.service and current.service["restarts"] == 1
        assert seen_error or current.service["port"] != state["port"]
    finally:
        session.close()


def test_an_enabled_service_that_is_down_says_so_without_none(served, capsys) -> None:
    device, _state = served
    for pid in processes_with(device.agent_home):  # the supervisor too: nothing restarts it
        os.kill(pid, signal.SIGKILL)
    assert main(["metrics", "tele"]) == 1
    line = capsys.readouterr().err.splitlines()[0]
    assert "the agent's server is not running (the service is enabled but down" in line, line
    assert "None" not in line and "tfstudio agent serve tele --enable" in line


def test_metrics_without_a_service_say_how_to_start_it(lab: Lab, capsys) -> None:
    lab.add("quiet")
    assert main(["metrics", "quiet"]) == 1
    captured = capsys.readouterr()
    assert "the agent's server is not running" in captured.err
    assert "tfstudio agent serve quiet --enable" in captured.err
    assert main(["predict", "quiet", "--input", "/nonexistent.npy"]) == 1
    assert "not found" in capsys.readouterr().err


def test_watch_streams_json_lines_until_ctrl_c(served, studio_home: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfstudio", "metrics", "tele", "--watch", "--interval", "0.3",
         "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TFSTUDIO_HOME": str(studio_home)},
        cwd=str(REPO),
    )  # fmt: skip
    try:
        lines = []
        deadline = time.monotonic() + 30
        while len(lines) < 2 and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                lines.append(json.loads(proc.stdout.readline()))  # type: ignore[union-attr]
        assert [m["since_start"] for m in lines] == [True, False]
        assert all(m["ok"] and m["device"] == "tele" for m in lines)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_local_and_ssh_devices_in_one_scrape(served, tiny_models, tmp_path, capsys) -> None:
    assert main(["deploy", str(tiny_models["int8"]), "--to", "local", "--json"]) == 0
    capsys.readouterr()
    try:
        assert main(["agent", "serve", "local", "--enable", "--port", "0", "--json"]) == 0
        assert _json(capsys)["running"]
        x = tmp_path / "x.npy"
        np.save(x, np.random.default_rng(1).random((2, 64), dtype=np.float32))
        assert main(["predict", "local", "--input", str(x), "--json"]) == 0
        answer = _json(capsys)
        assert answer["instances"] == 2 and len(answer["top1"]) == 2  # float in, int8 model
        assert main(["metrics", "local,tele", "--json"]) == 0
        local, tele = _json(capsys)
        assert local["ok"] and local["predicts"] == 1 and local["instances"] == 2
        assert tele["ok"] and tele["predicts"] == 0
        assert main(["agent", "serve", "local", "--disable"]) == 0
        assert "stopped and removed" in capsys.readouterr().out
    finally:
        stop_service(get_device("local"))


def test_predict_shows_every_output_of_a_two_headed_model(
    serving_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both heads come back by their signature names (the converter gives the two output
    tensors one name), in the JSON and on screen."""
    from edge_agent import runtime

    assert main(["deploy", str(serving_models["two_heads"]), "--to", "local", "--json"]) == 0
    capsys.readouterr()
    try:
        assert main(["agent", "serve", "local", "--enable", "--port", "0", "--json"]) == 0
        capsys.readouterr()
        x = np.random.default_rng(4).random((2, 8), dtype=np.float32)
        np.save(tmp_path / "x.npy", x)
        assert main(["predict", "local", "--input", str(tmp_path / "x.npy"), "--json"]) == 0
        answer = _json(capsys)
        assert isinstance(answer, dict)
        assert answer["values"] is None and set(answer["outputs"]) == {"output_0", "output_1"}
        assert answer["model_version"] == "1" and len(answer["model_sha256"]) == 64
        interp = runtime.make_interpreter(model_path=str(serving_models["two_heads"]))
        runner = interp.get_signature_runner("serving_default")
        direct = [runner(features=x[i : i + 1]) for i in range(2)]
        for name in ("output_0", "output_1"):
            expected = np.concatenate([d[name] for d in direct])
            np.testing.assert_allclose(answer["outputs"][name]["values"], expected, rtol=1e-6)
        assert answer["outputs"]["output_0"]["top1"] == expected_top1(direct)

        assert main(["predict", "local", "--input", str(tmp_path / "x.npy")]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[1].startswith("  [0] output_0: top-1 ")
        assert lines[2].startswith("      output_1: [")
        assert lines[3].startswith("  [1] output_0: top-1 ") and len(lines) == 5
    finally:
        stop_service(get_device("local"))


def expected_top1(direct: list[dict[str, np.ndarray]]) -> list[int]:
    return [int(d["output_0"].argmax()) for d in direct]
