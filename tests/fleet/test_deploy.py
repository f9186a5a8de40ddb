"""Deploy against real sshd devices: end to end, preflight, re-push, resume, health gate."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.fleet.conftest import FAST_BENCH, Lab
from tests.helpers.sshd import sshd_session_serving
from tfstudio.cli import main
from tfstudio.deploy.options import DeployOptions, Status
from tfstudio.deploy.run import deploy_one
from tfstudio.fleet import deploylog
from tfstudio.fleet.agentcall import AgentClient
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import Device, get_device
from tfstudio.measure.bench import BenchSettings
from tfstudio.models.facts import inspect_model
from tfstudio.operations import Event, TransferTick
from tfstudio.transport.base import Transport

QUICK = BenchSettings(runs=5, warmup=1, min_seconds=0, warmup_min_seconds=0)


def _listing(device: Device) -> dict:
    with open_transport(device) as transport:
        return AgentClient(device, transport).call("list")


def _json(capsys) -> object:
    return json.loads(capsys.readouterr().out)


def test_end_to_end_from_the_cli(lab: Lab, tiny_models: dict[str, Path], capsys) -> None:
    server = lab.servers[0]
    argv = ["devices", "add", "e2e", "--host", "127.0.0.1", "--port", str(server.port)]
    argv += ["--user", lab.users[0], "--key", str(lab.sshd.client_key)]
    argv += ["--python", str(lab.venvs["device"]), "--agent-home", "agents/e2e-cli"]
    assert main(argv) == 0
    assert main(["devices", "trust", "e2e", "--fingerprint", server.host_fingerprint]) == 0
    capsys.readouterr()

    assert main(["devices", "check", "e2e", "--json"]) == 1
    (missing,) = _json(capsys)
    assert missing["agent"] == "missing" and "tfstudio agent install e2e" in missing["hint"]
    assert main(["agent", "install", "e2e", "--json"]) == 0
    installed = _json(capsys)
    assert installed["ok"] and installed["runtime"]["name"] == "ai-edge-litert"
    assert main(["devices", "check", "e2e", "--json"]) == 0
    (check,) = _json(capsys)
    assert check["reachable"] and check["agent"] == "ok" and check["arch"]
    assert check["rtt_ms"] > 0

    f32, int8 = tiny_models["float32"], tiny_models["int8"]
    assert main(["deploy", str(f32), "--to", "e2e", "--bench", *FAST_BENCH, "--json"]) == 0
    (result,) = _json(capsys)
    sha32 = inspect_model(f32).sha256
    assert result["status"] == "ok" and result["active"] == sha32
    assert result["bench"]["p99_ms"] > 0

    # bench a model the device does not store: pushed to scratch, never activated
    assert main(["bench", str(int8), "--on", "e2e", *FAST_BENCH, "--json"]) == 0
    (report,) = _json(capsys)
    assert report["device_name"] == "e2e" and report["device"]["arch"] and report["p50_ms"] > 0
    assert "scratch" in report["model"]["path"]
    assert main(["models", "--on", "e2e", "--json"]) == 0
    listing = _json(capsys)
    assert listing["active"] == sha32 and len(listing["models"]) == 1

    assert main(["deploy", str(int8), "--to", "e2e"]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["bench", "--active", "--on", "e2e", *FAST_BENCH]) == 0
    table = capsys.readouterr().out
    assert "p99_ms" in table and "e2e" in table
    assert main(["rollback", "e2e", "--json"]) == 0
    assert _json(capsys)["active"] == sha32
    assert main(["models", "--on", "e2e"]) == 0
    assert "mlp.float32.tflite" in capsys.readouterr().out

    log = deploylog.read("e2e")
    assert [e["result"] for e in log] == ["ok", "ok", "manual_rollback"]
    assert log[0]["sha256"] == sha32 and log[0]["bench"]["p99_ms"] > 0


def test_agent_missing_is_reported_with_the_fix(lab: Lab, capsys) -> None:
    lab.add("noagent", install=False)
    assert main(["devices", "check", "noagent"]) == 1
    err = capsys.readouterr().err
    assert "agent is not installed" in err and "tfstudio agent install noagent" in err


def test_agent_install_names_missing_pieces(lab: Lab, capsys) -> None:
    lab.add("bare", python="/usr/bin/python3", install=False)
    assert main(["agent", "install", "bare"]) == 1
    err = capsys.readouterr().err
    assert "numpy" in err and "--runtime ai-edge-litert" in err and "Traceback" not in err
    lab.add("nopython", python="/no/such/python3", install=False)
    assert main(["agent", "install", "nopython"]) == 1
    err = capsys.readouterr().err
    assert "cannot run /no/such/python3" in err and len(err.strip().splitlines()) == 1


def test_preflight_refuses_dynamic_on_old_device_before_upload(
    lab: Lab, tiny_models: dict[str, Path]
) -> None:
    device = lab.add("old", python="old-device", server=1)
    int8 = tiny_models["int8"]
    first = deploy_one(int8, inspect_model(int8), device, DeployOptions())
    assert first.status is Status.OK, first.message

    dynamic = tiny_models["dynamic"]
    facts = inspect_model(dynamic)
    refused = deploy_one(dynamic, facts, device, DeployOptions())
    assert refused.status is Status.REFUSED
    assert refused.bytes_sent == 0
    assert "2.17.0" in refused.message and "tflite-runtime 2.14" in refused.message
    assert "FULLY_CONNECTED v12" in refused.message
    assert "ai-edge-litert" in (refused.hint or "") and "older converter" in (refused.hint or "")
    with open_transport(device) as transport:
        assert transport.stat_size(device.remote("inbox", f"{facts.sha256}.partial")) is None
    assert _listing(device)["active"] == first.sha256


def test_redeploy_unchanged_sends_zero_bytes(lab: Lab, tiny_models: dict[str, Path]) -> None:
    device = lab.add("again", server=2)
    model = tiny_models["float16"]
    facts = inspect_model(model)
    first = deploy_one(model, facts, device, DeployOptions())
    assert first.status is Status.OK and first.bytes_sent == facts.size_bytes
    second = deploy_one(model, facts, device, DeployOptions())
    assert second.status is Status.OK and second.bytes_sent == 0 and second.already_present
    # stored but no longer active: re-activated, still without sending the model
    other = tiny_models["int8"]
    assert deploy_one(other, inspect_model(other), device, DeployOptions()).ok
    third = deploy_one(model, facts, device, DeployOptions())
    assert third.status is Status.OK and third.bytes_sent == 0 and third.active == facts.sha256
    assert _listing(device)["active"] == facts.sha256


@pytest.mark.parametrize("how", ["close", "kill"])
def test_interrupted_push_keeps_old_model_and_resumes(
    lab: Lab, tiny_models: dict[str, Path], big_model: Path, how: str
) -> None:
    device = lab.add(f"flaky-{how}", server=3)
    old = deploy_one(
        tiny_models["float32"], inspect_model(tiny_models["float32"]), device, DeployOptions()
    )
    assert old.ok
    facts = inspect_model(big_model)
    opened: list[Transport] = []

    def connect(dev: Device) -> Transport:
        opened.append(open_transport(dev))
        return opened[-1]

    def cut(event: Event) -> None:
        # Pull the plug once 3 MiB are on the wire, as a dropped link would:
        # close our end, or kill the sshd process serving the session.
        if not isinstance(event, TransferTick) or event.done < 3 << 20:
            return
        if how == "close":
            opened[-1].close()
            return
        # The sshd process serving this device's agent (its session reads the upload).
        pid = sshd_session_serving(f"--home={device.agent_home} ")
        if pid is not None:
            os.kill(pid, signal.SIGKILL)

    broken = deploy_one(big_model, facts, device, DeployOptions(), connect=connect, on_event=cut)
    assert broken.status is Status.FAILED, broken.message
    expected = "connection closed" if how == "close" else "connection lost"
    assert f"{expected} while sending mlp.big.tflite" in broken.message
    assert _listing(device)["active"] == old.sha256

    resumed = deploy_one(big_model, facts, device, DeployOptions())
    assert resumed.status is Status.OK, resumed.message
    assert resumed.resumed_from > 0
    assert resumed.bytes_sent == facts.size_bytes - resumed.resumed_from < facts.size_bytes
    assert _listing(device)["active"] == facts.sha256


def test_health_gate_rolls_back_when_p99_is_over_budget(
    lab: Lab, tiny_models: dict[str, Path], capsys
) -> None:
    lab.add("gated", server=4)
    good = tiny_models["float32"]
    assert main(["deploy", str(good), "--to", "gated", "--json"]) == 0
    capsys.readouterr()
    argv = ["deploy", str(tiny_models["int8"]), "--to", "gated", "--max-p99-ms", "0.000001"]
    assert main([*argv, *FAST_BENCH, "--json"]) == 1
    captured = capsys.readouterr()
    (result,) = json.loads(captured.out)
    assert result["status"] == "rolled_back"
    assert "over the budget" in result["message"]
    assert result["active"] == inspect_model(good).sha256
    assert "gated (rolled_back)" in captured.err
    assert _listing(get_device("gated"))["active"] == inspect_model(good).sha256


def test_local_device_walks_the_same_flow(tiny_models: dict[str, Path], capsys) -> None:
    assert main(["devices", "check", "local", "--json"]) == 0
    assert _json(capsys)[0]["agent"] == "ok"
    assert main(["deploy", str(tiny_models["float32"]), "--to", "local", "--json"]) == 0
    assert _json(capsys)[0]["status"] == "ok"
    assert main(["models", "--on", "local", "--json"]) == 0
    assert _json(capsys)["active"] == inspect_model(tiny_models["float32"]).sha256


@pytest.mark.slow
def test_agent_install_creates_a_runtime_venv_when_asked(
    lab: Lab, tiny_models: dict[str, Path], capsys
) -> None:
    # /usr/bin/python3 has no numpy and no runtime: --runtime builds a user venv
    # in the agent home with pip (from the machine's configured index/wheels).
    lab.add("venvdev", python="/usr/bin/python3", server=6, user=1, install=False)
    assert main(["agent", "install", "venvdev", "--runtime", "ai-edge-litert", "--json"]) == 0
    installed = _json(capsys)
    assert installed["venv_created"] and installed["runtime"]["name"] == "ai-edge-litert"
    device = get_device("venvdev")
    assert device.python.endswith("venv/bin/python") and device.agent_version
    model = tiny_models["float32"]
    assert deploy_one(model, inspect_model(model), device, DeployOptions()).ok


def test_health_gate_rolls_back_when_the_bench_fails(
    lab: Lab, tiny_models: dict[str, Path]
) -> None:
    device = lab.add("benchfail", server=5)
    good, new = tiny_models["float32"], tiny_models["float16"]
    assert deploy_one(good, inspect_model(good), device, DeployOptions()).ok
    # --runs 0 makes the agent's bench refuse: the gate must treat it as a failure.
    broken = DeployOptions(bench=True, bench_settings=BenchSettings(runs=0))
    result = deploy_one(new, inspect_model(new), device, broken)
    assert result.status is Status.ROLLED_BACK
    assert "the bench failed" in result.message and "--runs" in result.message
    assert _listing(device)["active"] == inspect_model(good).sha256


def test_a_failing_remote_write_names_the_reason(lab: Lab, big_model: Path) -> None:
    from tfstudio.errors import TransportError

    device = lab.add("rofs", server=2, install=False)
    with open_transport(device) as transport:
        with pytest.raises(TransportError) as info:
            transport.put(big_model, "/proc/tfstudio-nope/model.partial")
        assert "writing /proc/tfstudio-nope/model.partial failed" in info.value.message
        assert "Error" in info.value.message  # the device's own OSError text
        assert transport.run(["true"]).ok  # the connection survives
