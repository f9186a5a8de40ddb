"""Staged rollouts on real loopback sshd devices imported from an Ansible INI inventory.

Twelve devices in three groups, spread over three sshd servers and two device users,
each with its own agent home. One device of wave 2 runs the old runtime
(tflite-runtime 2.14 with numpy 1), which cannot run a dynamic-range model: wave 1
passes, wave 2 halts and is rolled back (every device of it back on its previous
model), wave 3 is never touched; once that device's runtime is upgraded, `--resume`
finishes waves 2 and 3.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fleet.conftest import FAST_BENCH, Lab, listing, server_key
from tfstudio.cli import main
from tfstudio.fleet import deploylog, registry
from tfstudio.fleet.agent_install import install_agent
from tfstudio.fleet.connect import open_transport
from tfstudio.models.facts import inspect_model
from tfstudio.studio import Studio
from tfstudio.transport import hostkeys

pytestmark = pytest.mark.slow

GROUPS = ("cams", "gates", "sensors")


def write_inventory(lab: Lab, path: Path, tag: str) -> list[str]:
    """Writes a 12-host INI inventory (3 groups of 4, one parent group); returns the names."""
    names = []
    lines = []
    for g, group in enumerate(GROUPS):
        lines.append(f"[{group}]")
        for i in range(4):
            name = f"{group[:3]}-{i:02d}"
            names.append(name)
            server = lab.servers[(g + i) % 3]
            lines.append(
                f"{name} ansible_host=127.0.0.1 ansible_port={server.port} "
                f"ansible_user={lab.users[i % 2]} tfstudio_agent_home=agents/{tag}-{name}"
            )
        lines.append("")
    lines += ["[lab:children]", *GROUPS, "", "[lab:vars]"]
    lines.append(f"ansible_ssh_private_key_file={lab.sshd.client_key}")
    lines.append(f"ansible_python_interpreter={lab.venvs['device']}")
    path.write_text("\n".join(lines) + "\n")
    return names


def _active(name: str) -> str | None:
    return listing(registry.get_device(name)).get("active")


def _json(capsys) -> object:
    return json.loads(capsys.readouterr().out)


def test_three_waves_halt_on_an_old_device_then_resume(
    lab: Lab, tiny_models: dict[str, Path], tmp_path: Path, capsys
) -> None:
    inventory = tmp_path / "fleet.ini"
    names = write_inventory(lab, inventory, f"ro{os.getpid()}")
    assert main(["devices", "import", str(inventory), "--json"]) == 0
    imported = _json(capsys)
    assert [c["action"] for c in imported["changes"]] == ["added"] * 12
    for server in lab.servers[:3]:
        hostkeys.record("127.0.0.1", server.port, server_key(server))
    studio = Studio()
    for name in names:
        device = registry.get_device(name)
        with open_transport(device) as transport:
            install_agent(device, transport)
    v1, v2 = tiny_models["float32"], tiny_models["dynamic"]
    v1_sha, v2_sha = inspect_model(v1).sha256, inspect_model(v2).sha256
    assert main(["deploy", str(v1), "--to", "group:lab", "--json"]) == 0
    capsys.readouterr()

    waves = ["--waves", "1,25%,100%", "--seed", "7"]
    assert main(["deploy", str(v2), "--to", "group:lab", *waves, "--plan", "--json"]) == 0
    plan = _json(capsys)["waves"]
    assert [len(w) for w in plan] == [1, 2, 9] and sorted(sum(plan, [])) == sorted(names)
    assert plan == studio.rollout_plan("group:lab", "1,25%,100%", seed=7)
    old = plan[1][0]
    registry.update_device(old, python=str(lab.venvs["old-device"]))

    argv = ["deploy", str(v2), "--to", "group:lab", *waves, "--bench", *FAST_BENCH, "--json"]
    assert main(argv) == 1
    halted = _json(capsys)
    assert halted["state"] == "halted"
    assert [w["state"] for w in halted["waves"]] == ["passed", "failed", "pending"]
    assert halted["halted"]["wave"] == 2
    assert list(halted["halted"]["devices"]) == [old]
    assert halted["halted"]["devices"][old].startswith("preflight: refused before upload")
    rollout_id = halted["id"]

    assert _active(plan[0][0]) == v2_sha
    for name in plan[1]:  # the whole wave is back on its previous model
        assert _active(name) == v1_sha
    other = plan[1][1]
    assert halted["devices"][other]["rolled_back"] and halted["devices"][other]["status"] == "ok"
    logged = [e for e in deploylog.read(other) if e.get("rollout") == rollout_id]
    assert [e["result"] for e in logged] == ["ok", "rollout_rollback"]
    assert logged[-1]["sha256"] == v1_sha and logged[-1]["wave"] == 2
    for name in plan[2]:  # never touched: no deploy of v2 was even tried
        assert _active(name) == v1_sha
        assert not [e for e in deploylog.read(name) if e.get("rollout") == rollout_id]

    assert main(["rollouts"]) == 0
    table = capsys.readouterr().out
    assert rollout_id in table and "halted" in table and "1/3" in table

    registry.update_device(old, python=str(lab.venvs["device"]))  # the runtime is upgraded
    assert main(["deploy", "--resume", rollout_id[:13], "--json"]) == 0
    done = _json(capsys)
    assert done["id"] == rollout_id and done["state"] == "done"
    assert [w["state"] for w in done["waves"]] == ["passed"] * 3
    for name in names:
        assert _active(name) == v2_sha
    wave1 = [e for e in deploylog.read(plan[0][0]) if e.get("rollout") == rollout_id]
    assert len(wave1) == 1  # a passed wave is not deployed again
    assert all(d["bench"] and d["bench"]["p99_ms"] > 0 for d in done["devices"].values())

    assert main(["rollouts", rollout_id, "--json"]) == 0
    assert _json(capsys)["waves_passed"] == 3
    assert main(["report", "--rollout", rollout_id, "--json"]) == 0
    report = _json(capsys)
    assert sorted(report["devices"]) == sorted(names)
    assert [v["sha256"] for v in report["variants"]] == [v2_sha]
