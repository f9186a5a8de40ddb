"""The device lock, write records (`--id` / `outcome`), `prune`, and validation's child process.

Every command is a real agent process; the lock holder is a real `lock`
process holding its flock until its stdin closes, as the studio's does over SSH.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.agent.conftest import REPO, agent_cmd, agent_env

# Interrupted writes and killed agents: a slow scenario, the full tier (tests/plugins/tiers.py).
pytestmark = pytest.mark.usefixtures("slow_scenario")


def _spawn(home: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        agent_cmd(home, *args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=agent_env(env),
        cwd=str(REPO),
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_device_lock_names_its_holder_and_admits_its_deploy(agent, agent_home, tiny_models):
    holder = _spawn(agent_home, "lock", "--id", "deploy-aaaa1111", "--owner", "ana@studio",
                    "--json")  # fmt: skip
    try:
        locked = json.loads(holder.stdout.readline())
        assert locked["locked"] and locked["pid"] == holder.pid
        model = str(tiny_models["float32"])
        busy = agent("install", model, "--json", env={"TFSTUDIO_AGENT_LOCK_WAIT": "0.5"})
        assert busy.rc == 1 and busy.json["code"] == "locked"
        message = busy.json["error"]
        assert message.startswith("device busy: another deploy (pid ")
        assert f"pid {holder.pid} from ana@studio, started at 20" in message
        assert message.endswith("holds it")
        second = agent("lock", "--id", "deploy-bbbb2222", "--wait", "0.3", "--json")
        assert second.rc == 1 and "device busy" in second.json["error"]
        inside = agent("install", model, "--lock-id", "deploy-aaaa1111", "--json")
        assert inside.rc == 0, inside.stdout
        wrong = agent("rollback", "--lock-id", "deploy-zzzz9999", "--json")
        assert wrong.rc == 1 and "device busy" in wrong.json["error"]
    finally:
        holder.stdin.close()  # what a closed SSH channel does
        assert holder.wait(timeout=10) == 0
    assert agent("install", str(tiny_models["int8"]), "--json").rc == 0


def test_a_lock_of_a_dead_deploy_is_free(agent, agent_home, tiny_models):
    holder = _spawn(agent_home, "lock", "--id", "deploy-cccc3333", "--json")
    holder.stdout.readline()
    holder.kill()
    holder.wait(timeout=10)
    run = agent(
        "install", str(tiny_models["float32"]), "--json", env={"TFSTUDIO_AGENT_LOCK_WAIT": "1"}
    )
    assert run.rc == 0, run.stdout
    run = agent("install", str(tiny_models["int8"]), "--lock-id", "deploy-cccc3333", "--json")
    assert run.rc == 1 and "not held" in run.json["error"]


def test_outcome_of_done_failed_unknown_and_interrupted_writes(
    agent, agent_home, tiny_models, tmp_path
):
    model = tiny_models["float32"]
    done = agent("install", str(model), "--id", "op-done-0001", "--json")
    assert done.rc == 0
    answer = agent("outcome", "op-done-0001", "--json").json
    assert answer["state"] == "done" and answer["op"] == "install"
    assert answer["result"]["sha256"] == _sha(model) == answer["active"]

    bogus = tmp_path / "bogus.tflite"
    bogus.write_text("not a model")
    assert agent("install", str(bogus), "--id", "op-fail-0002", "--json").rc == 1
    failed = agent("outcome", "op-fail-0002", "--json").json
    assert failed["state"] == "failed" and failed["failure"]["code"] == "not_tflite"
    assert agent("outcome", "op-none-0003", "--json").json["state"] == "unknown"

    paused = _spawn(agent_home, "install", str(tiny_models["int8"]), "--id", "op-kill-0004",
                    "--json", env={"TFSTUDIO_AGENT_PAUSE_AT": "activate-done"})  # fmt: skip
    assert paused.stderr.readline().decode().strip() == "PAUSED activate-done"
    assert agent("outcome", "op-kill-0004", "--json").json["state"] == "running"
    paused.send_signal(signal.SIGKILL)
    paused.wait(timeout=10)
    killed = agent("outcome", "op-kill-0004", "--json").json
    # Killed after the pointer moved, before its record: the device state tells the rest.
    assert killed["state"] == "interrupted" and killed["active"] == _sha(tiny_models["int8"])
    assert agent("outcome", "../../etc/passwd", "--json").json["code"] == "usage"


def test_outcome_waits_for_a_running_write(agent, agent_home, tiny_models):
    proc = _spawn(agent_home, "install", str(tiny_models["float16"]), "--id", "op-wait-0005",
                  "--json")  # fmt: skip
    answer = agent("outcome", "op-wait-0005", "--wait", "60", "--json").json
    assert answer["state"] == "done", answer
    assert proc.wait(timeout=30) == 0


def test_prune_keeps_the_active_model_and_its_rollback_target(agent, tiny_models):
    shas = []
    for mode in ("float32", "float16", "int8", "dynamic"):
        run = agent("install", str(tiny_models[mode]), "--json")
        assert run.rc == 0
        shas.append(run.json["sha256"])
    pruned = agent("prune", "--keep", "1", "--json").json
    assert set(pruned["removed"]) == set(shas[:2]) and pruned["freed_bytes"] > 0
    assert set(pruned["kept"]) == set(shas[2:])
    assert agent("rollback", "--json").json["active"] == shas[2]


def test_validation_child_dies_with_a_killed_agent(agent_home, tiny_models):
    proc = _spawn(agent_home, "install", str(tiny_models["int8"]), "--json",
                  env={"TFSTUDIO_AGENT_FAULT": "validate-hang"})  # fmt: skip
    child = None
    deadline = time.monotonic() + 30
    while child is None and time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            # The install validates its own copy of the model, in the agent home's inbox.
            if b"edge_agent.validate_child" in cmdline and str(agent_home).encode() in cmdline:
                child = int(entry.name)
        time.sleep(0.05)
    assert child is not None, "no validation child appeared"
    time.sleep(1.0)  # the child is past its start-up, hanging in the runtime
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        stat = Path(f"/proc/{child}/stat").read_text() if Path(f"/proc/{child}").exists() else ""
        if ") Z " in stat:
            break  # dead, waiting to be reaped by init
        time.sleep(0.05)
    alive = (
        Path(f"/proc/{child}").exists() and ") Z " not in Path(f"/proc/{child}/stat").read_text()
    )
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the validation child outlived the agent that started it"


def test_info_reports_uploads_waiting_in_the_inbox(agent, agent_home, tiny_models):
    assert agent("info", "--json").json["partials"] == []
    inbox = agent_home / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    data = tiny_models["int8"].read_bytes()
    (inbox / f"{_sha(tiny_models['int8'])}.partial").write_bytes(data[:100])
    (partial,) = agent("info", "--json").json["partials"]
    assert partial["sha256"] == _sha(tiny_models["int8"]) and partial["bytes"] == 100


def test_the_same_deploy_takes_its_lock_back_from_a_frozen_holder(agent_home):
    """After a frozen link, the deploy's new `lock` ends its own old holder (same id)."""
    first = _spawn(agent_home, "lock", "--id", "deploy-dddd4444", "--json")
    other = None
    try:
        assert json.loads(first.stdout.readline())["locked"]
        first.send_signal(signal.SIGSTOP)  # its link froze: stdin never closes
        again = _spawn(agent_home, "lock", "--id", "deploy-dddd4444", "--wait", "10", "--json")
        assert json.loads(again.stdout.readline())["pid"] == again.pid
        first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=10) != 0, "the frozen holder was ended"
        other = _spawn(agent_home, "lock", "--id", "deploy-eeee5555", "--wait", "0.3", "--json")
        refused = json.loads(other.stdout.readline())
        assert refused["code"] == "locked" and f"pid {again.pid}" in refused["error"]
        again.stdin.close()
        assert again.wait(timeout=10) == 0
    finally:
        for proc in (first, other):
            if proc is not None and proc.poll() is None:
                proc.kill()
