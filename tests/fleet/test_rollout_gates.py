"""Rollout gates and interruptions on real sshd devices: the soak gate on live telemetry,
Ctrl-C and SIGKILL of the studio in the middle of a wave, then `--resume`.

Every rollout here runs `tfstudio deploy --waves` as the user would: in-process for the
soak, as a real process (signalled) for the interruptions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.fleet.conftest import Lab, listing
from tfstudio.cli import main
from tfstudio.deploy.rolloutlog import RolloutRecord, list_rollouts
from tfstudio.fleet import deploylog, registry
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.service import endpoint
from tfstudio.models.facts import inspect_model
from tfstudio.tunnel.channel import LoopbackHTTP
from tfstudio.tunnel.predict import MODEL_PATH

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def narrow_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A float32 model whose input is 32 wide: requests made for the 64-wide MLP fail."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(10, activation="softmax")])
    path = tmp_path_factory.mktemp("narrow") / "narrow.float32.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def _active(name: str) -> str | None:
    return listing(registry.get_device(name)).get("active")


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


class Client:
    """Sends the 64-wide MLP's requests to a device's server until stopped; counts answers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.codes: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        device = registry.get_device(self.name)
        body = json.dumps({"instances": np.zeros((1, 64)).tolist()}).encode()
        with open_transport(device) as transport:
            found = endpoint(device, transport)
            http = LoopbackHTTP(transport, found.port, found.token, 30.0)
            try:
                while not self.stop.is_set():
                    self.codes.append(http.request("POST", MODEL_PATH + ":predict", body).status)
                    self.stop.wait(0.05)
            finally:
                http.close()


@pytest.fixture
def served_pair(lab: Lab, tiny_models: dict[str, Path], capsys) -> Iterator[list[str]]:
    """Two devices with the 64-wide MLP active and their agent service running."""
    names = ["soak-a", "soak-b"]
    for name in names:
        lab.add(name)
    assert main(["deploy", str(tiny_models["float32"]), "--to", ",".join(names)]) == 0
    for name in names:
        assert main(["agent", "serve", name, "--enable", "--port", "0", "--json"]) == 0
    capsys.readouterr()
    yield names
    for name in names:
        main(["agent", "serve", name, "--disable"])


def test_soak_fails_the_wave_on_the_live_error_rate(
    served_pair: list[str], tiny_models: dict[str, Path], narrow_model: Path, capsys
) -> None:
    first, second = served_pair
    v1 = inspect_model(tiny_models["float32"]).sha256
    clients = [Client(name) for name in served_pair]
    for client in clients:
        client.thread.start()
    try:
        argv = ["deploy", str(narrow_model), "--to", "soak-a,soak-b", "--waves", "1,100%"]
        argv += ["--canary", first, "--soak", "3s", "--max-error-rate", "0.05", "--json"]
        assert main(argv) == 1
    finally:
        for client in clients:
            client.stop.set()
            client.thread.join(timeout=30)
    record = _json(capsys)
    assert record["state"] == "halted" and record["halted"]["wave"] == 1
    reason = record["halted"]["devices"][first]
    assert reason.startswith("soak: error rate") and "--max-error-rate 0.05" in reason
    wave = record["waves"][0]
    assert wave["state"] == "failed" and wave["timing"]["soak_s"] >= 3
    (figures,) = wave["soak"]
    assert figures["served"] and figures["requests"] > 0 and figures["error_rate"] > 0.05
    assert record["devices"][first]["rolled_back"]
    assert _active(first) == v1 and _active(second) == v1  # wave 2 was never touched
    assert 400 in clients[0].codes and set(clients[1].codes) == {200}
    assert not [e for e in deploylog.read(second) if e.get("rollout") == record["id"]]


def _spawn(studio_home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tfstudio", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TFSTUDIO_HOME": str(studio_home)},
        cwd=str(REPO),
    )


def _wait_for(state: str, wave: int, proc: subprocess.Popen, timeout: float = 120) -> RolloutRecord:
    """Waits until the (only) rollout's wave `wave` reaches `state`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list_rollouts()
        if found and len(found[0].waves) >= wave and found[0].waves[wave - 1].state == state:
            return found[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError(f"wave {wave} never reached {state}")


@pytest.fixture
def trio(lab: Lab, tiny_models: dict[str, Path], capsys) -> list[str]:
    """Three devices on the float32 MLP."""
    names = ["int-a", "int-b", "int-c"]
    for i, name in enumerate(names):
        lab.add(name, server=i % 2, user=i % 2)
    assert main(["deploy", str(tiny_models["float32"]), "--to", ",".join(names)]) == 0
    capsys.readouterr()
    return names


def test_ctrl_c_mid_wave_rolls_the_wave_back_then_resume_finishes(
    trio: list[str], tiny_models: dict[str, Path], studio_home: Path, capsys
) -> None:
    v1, v2 = (inspect_model(tiny_models[m]).sha256 for m in ("float32", "int8"))
    proc = _spawn(studio_home, "deploy", str(tiny_models["int8"]), "--to", ",".join(trio),
                  "--waves", "1,100%", "--canary", "int-a", "--soak", "60s")  # fmt: skip
    try:
        _wait_for("soaking", 1, proc)
        assert _active("int-a") == v2  # deployed, not yet gated
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "deploy --resume" in err
    (record,) = list_rollouts()
    assert record.state == "interrupted" and record.shown_state == "interrupted"
    assert [w.state for w in record.waves] == ["interrupted", "pending"]
    assert _active("int-a") == v1  # the half-gated wave went back
    assert record.devices["int-a"].before == v1 and record.devices["int-a"].rolled_back

    assert main(["deploy", "--resume", record.id, "--soak", "0.5s", "--json"]) == 0
    done = _json(capsys)
    assert done["state"] == "done" and [w["state"] for w in done["waves"]] == ["passed"] * 2
    assert all(_active(name) == v2 for name in trio)
    assert done["options"]["gates"]["soak"]["seconds"] == 0.5


def test_a_killed_studio_leaves_no_wave_passed_half_gated(
    trio: list[str], tiny_models: dict[str, Path], studio_home: Path, capsys
) -> None:
    v1, v2 = (inspect_model(tiny_models[m]).sha256 for m in ("float32", "int8"))
    proc = _spawn(studio_home, "deploy", str(tiny_models["int8"]), "--to", ",".join(trio),
                  "--waves", "1,100%", "--canary", "int-a", "--soak", "60s")  # fmt: skip
    try:
        killed = _wait_for("soaking", 1, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    (record,) = list_rollouts()
    assert record.id == killed.id and record.state == "running"  # as far as it got
    assert record.shown_state == "interrupted" and not record.live
    assert record.waves[0].state == "soaking" and record.next_wave() == 1
    assert record.devices["int-a"].before == v1 and _active("int-a") == v2
    assert main(["rollouts"]) == 0
    assert "interrupted" in capsys.readouterr().out

    # The resumed wave fails its gate (an impossible p99 budget): it goes back to the
    # model recorded before the kill, and wave 2 stays untouched.
    argv = ["deploy", "--resume", record.id, "--soak", "0.2s", "--max-p99-ms", "0.00001"]
    assert main([*argv, "--runs", "5", "--json"]) == 1
    halted = _json(capsys)
    assert halted["state"] == "halted" and halted["halted"]["devices"]["int-a"].startswith(
        "health:"
    )
    assert _active("int-a") == v1 and _active("int-b") == v1 and _active("int-c") == v1

    assert main(["deploy", "--resume", record.id, "--max-p99-ms", "10000", "--json"]) == 0
    done = _json(capsys)
    assert done["state"] == "done" and done["runs"] == 3
    assert all(_active(name) == v2 for name in trio)


def test_an_eval_gate_halts_and_a_resume_relaxes_it_on_the_recorded_data(
    tiny_models: dict[str, Path], tmp_path: Path, capsys
) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "eval.npz"  # random labels: ~10% accuracy
    np.savez(data, x=rng.random((40, 64), dtype=np.float32), y=rng.integers(0, 10, 40))
    v1, v2 = tiny_models["float32"], tiny_models["dynamic"]
    assert main(["deploy", str(v1), "--to", "local"]) == 0
    capsys.readouterr()
    argv = ["deploy", str(v2), "--to", "local", "--waves", "100%", "--eval-data", str(data)]
    assert main([*argv, "--min-accuracy", "0.9", "--json"]) == 1
    halted = _json(capsys)
    assert halted["halted"]["devices"]["local"].startswith("health: health gate failed: accuracy")
    assert halted["options"]["eval"] == {"data": str(data), "min_accuracy": 0.9, "reference": None}
    assert _active("local") == inspect_model(v1).sha256
    assert main(["deploy", "--resume", halted["id"], "--min-accuracy", "0", "--json"]) == 0
    done = _json(capsys)
    assert done["state"] == "done" and done["options"]["eval"]["min_accuracy"] == 0
    assert done["devices"]["local"]["eval"]["samples"] == 40
    assert _active("local") == inspect_model(v2).sha256
