"""A deploy is one agent process on the device (its session), its health gate's bench and
eval included, and still works with the agents of earlier releases, which have no session
mode (one-shot commands, as before; `devices check` names them outdated).

The requests a deploy makes are counted by a Transport wrapper around the real
SSH connection: every remote command it starts, every file operation, and every
request written to the agent's session.
"""

from __future__ import annotations

import pwd
from collections import Counter
from pathlib import Path
from typing import Any

from edge_agent import __version__ as AGENT_VERSION
from tests.fleet.conftest import Lab, listing
from tests.helpers.agents import AGENT_0_3_0, old_agent_pyz, previous_agent_pyz
from tests.helpers.counting import Counting
from tests.helpers.digits import Digits
from tfstudio.deploy import preflight
from tfstudio.deploy.evalgate import EvalGate
from tfstudio.deploy.options import DeployOptions, Status
from tfstudio.deploy.run import deploy_one
from tfstudio.fleet.agentcall import AgentClient
from tfstudio.fleet.check import check_device
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import Device
from tfstudio.measure.bench import BenchSettings
from tfstudio.measure.evaldata import prepare_data
from tfstudio.models.facts import inspect_model
from tfstudio.transport.base import Transport

QUICK = BenchSettings(runs=5, warmup=1, min_seconds=0, warmup_min_seconds=0)


def _counted(opened: list[Counting]) -> Any:
    def connect(device: Device) -> Transport:
        opened.append(Counting(open_transport(device)))
        return opened[-1]

    return connect


def test_a_deploy_with_its_gate_is_one_agent_process(lab: Lab, big_model: Path) -> None:
    device = lab.add("onesession", server=0)
    facts = inspect_model(big_model)
    opened: list[Counting] = []
    options = DeployOptions(bench=True, bench_settings=QUICK, keep=1)
    result = deploy_one(big_model, facts, device, options, connect=_counted(opened))
    assert result.status is Status.OK, result.message
    assert result.bytes_sent == facts.size_bytes and result.bench is not None
    (transport,) = opened
    commands = {k: v for k, v in transport.calls.items() if not k.startswith("session ")}
    assert commands == {"agent session": 1}, transport.calls
    # Lock and info (with the heartbeat, in the same round trip), the upload (its bytes on
    # the same channel), install, bench: one process.
    requests = Counter({k: v for k, v in transport.calls.items() if k.startswith("session ")})
    assert requests == Counter(
        {f"session {op}": 1 for op in ("heartbeat", "lock", "info", "upload", "install", "bench")}
    ), requests
    assert listing(device)["active"] == facts.sha256
    home = Path(pwd.getpwnam(device.user or "").pw_dir) / device.agent_home
    stored = home / "models" / facts.sha256 / "model.tflite"
    assert stored.stat().st_nlink == 1 and not list((home / "inbox").iterdir())


def _agents(calls: Counter[str]) -> Counter[str]:
    """The agent processes started (session requests and file operations left out)."""
    return Counter({k: v for k, v in calls.items() if k.startswith("agent ")})


def test_the_gates_eval_and_bench_run_in_the_session(lab: Lab, digits: Digits) -> None:
    device = lab.add("evalsession", server=0)
    model = digits.models["int8"]
    facts = inspect_model(model)
    gate = EvalGate(prepare_data(model, digits.eval_npz), min_accuracy=0.5)
    opened: list[Counting] = []
    options = DeployOptions(bench=True, bench_settings=QUICK, eval_gate=gate)
    result = deploy_one(model, facts, device, options, connect=_counted(opened))
    assert result.status is Status.OK, result.message
    assert result.bench is not None and result.eval is not None
    assert result.eval["accuracy"] > 0.85 and result.eval["samples"] == 450
    (transport,) = opened
    # The eval data goes over SFTP (kept by hash); the eval itself is a session request,
    # run by the runtime child that validated the model: no `agent eval` process.
    assert _agents(transport.calls) == Counter({"agent session": 1}), transport.calls
    requests = Counter({k: v for k, v in transport.calls.items() if k.startswith("session ")})
    ops = ("heartbeat", "lock", "info", "upload", "install", "bench", "eval")
    assert requests == Counter({f"session {op}": 1 for op in ops}), requests


def test_an_agent_without_session_mode_still_deploys_with_one_shot_commands(
    lab: Lab, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    device = lab.add("oldrelease", server=1)
    home = Path(pwd.getpwnam(device.user or "").pw_dir) / device.agent_home
    (home / "tfstudio-agent.pyz").write_bytes(previous_agent_pyz(tmp_path).read_bytes())
    good, slow = tiny_models["float32"], tiny_models["int8"]
    opened: list[Counting] = []
    first = deploy_one(good, inspect_model(good), device, DeployOptions(), connect=_counted(opened))
    assert first.status is Status.OK, first.message
    calls = opened[0].calls
    assert calls["agent session"] == 1, "the session mode was tried"
    assert calls["agent lock"] == 1 and calls["agent install"] == 1 and calls["put"] == 1
    # A failing gate still rolls back, through the old agent's commands.
    gated = DeployOptions(max_p99_ms=0.000001, bench_settings=QUICK)
    second = deploy_one(slow, inspect_model(slow), device, gated)
    assert second.status is Status.ROLLED_BACK, second.message
    assert listing(device)["active"] == inspect_model(good).sha256
    with open_transport(device) as transport:
        assert AgentClient(device, transport).call("version")["agent_version"] == "0.2.0"


def test_agent_0_3_0_is_outdated_and_deploys_without_a_session(
    lab: Lab, digits: Digits, tmp_path: Path
) -> None:
    """Main's agent 0.3.0 (service and eval, no session mode, copies on install): the
    studio's version check and its session check agree that it is older than this one."""
    device = lab.add("agent030", server=1)
    home = Path(pwd.getpwnam(device.user or "").pw_dir) / device.agent_home
    (home / "tfstudio-agent.pyz").write_bytes(old_agent_pyz(AGENT_0_3_0, tmp_path).read_bytes())
    checked = check_device(device)
    assert checked.agent == "outdated" and checked.agent_version == AGENT_0_3_0, checked
    assert f"older than {AGENT_VERSION}" in (checked.error or "")
    with open_transport(device) as transport:
        info = AgentClient(device, transport).call("info")
    assert not preflight.stores_by_link(info)  # it copies: preflight asks for two models
    model = digits.models["int8"]
    gate = EvalGate(prepare_data(model, digits.eval_npz), min_accuracy=0.5)
    opened: list[Counting] = []
    options = DeployOptions(eval_gate=gate)
    result = deploy_one(model, inspect_model(model), device, options, connect=_counted(opened))
    assert result.status is Status.OK, result.message
    assert result.eval is not None and result.eval["accuracy"] > 0.85
    agents = _agents(opened[0].calls)
    assert agents["agent session"] == 1, "the session mode was tried once"
    assert agents["agent install"] == 1 and agents["agent eval"] == 1, agents
    assert listing(device)["active"] == inspect_model(model).sha256
