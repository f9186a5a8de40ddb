"""A full agent home on a real tmpfs: prune frees space, and when prune has nothing it may
remove, the studio says what gets out instead.

Real loopback sshd devices; the agent home is a small tmpfs that three tiny models and the
agent fit in; a filler file then takes every byte left (100 % full)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.fleet.conftest import Lab
from tfstudio.cli import main
from tfstudio.fleet.agent_bundle import build_agent_bytes
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import Device


def _fill(device: Device, home: Path) -> None:
    """Takes every free byte of the device's tmpfs (as the device user)."""
    with open_transport(device) as transport:
        filler = str(home / "filler")
        transport.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4096"], timeout=60)
    free = subprocess.run(["df", "--output=avail", "-B1", str(home)], capture_output=True,
                          text=True, check=True).stdout.split()[-1]  # fmt: skip
    assert int(free) == 0, f"{free} bytes still free"


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_prune_frees_a_full_disk_and_says_what_gets_out_when_it_cannot(
    lab: Lab, tiny_models: dict[str, Path], device_tmpfs: Callable[[int, int], Path], capsys
) -> None:
    home = device_tmpfs(len(build_agent_bytes()) + (3 << 20) // 2, 0)
    device = lab.add("full", server=0, agent_home=str(home / "agent"))
    for mode in ("float32", "float16", "int8"):
        assert main(["deploy", str(tiny_models[mode]), "--to", "full", "--json"]) == 0
    capsys.readouterr()
    _fill(device, home)

    # 100 % full: the model nobody needs goes, and its space comes back.
    assert main(["prune", "full", "--keep", "1", "--json"]) == 0, capsys.readouterr().err
    pruned = json.loads(capsys.readouterr().out)
    assert len(pruned["removed"]) == 1 and pruned["freed_bytes"] > 0
    assert len(pruned["kept"]) == 2

    # Full again, with only the active model and its rollback target stored.
    _fill(device, home)
    assert main(["deploy", str(tiny_models["dynamic"]), "--to", "full"]) == 1
    err = capsys.readouterr().err
    assert "stores the active model and its rollback target, which prune keeps" in err, err
    assert "deploy a smaller model" in err
    assert "tfstudio prune full --keep 1 --drop-rollback" in err
    assert main(["prune", "full", "--keep", "1"]) == 0
    out = capsys.readouterr().out
    assert "nothing to remove (2 models stored)" in out and "--drop-rollback" in out
    # Dropping the rollback target is asked for; without a terminal, --yes says it.
    assert main(["prune", "full", "--keep", "1", "--drop-rollback"]) == 2
    assert "confirm with --yes" in _one_line(capsys)
    assert main(["prune", "full", "--keep", "1", "--drop-rollback", "--yes", "--json"]) == 0
    dropped = json.loads(capsys.readouterr().out)
    assert len(dropped["removed"]) == 1 and dropped["rollback_target"] is None
    assert main(["rollback", "full"]) == 1
    assert "no previously active model" in _one_line(capsys)
