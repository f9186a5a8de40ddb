"""An agent older than the studio's is reported as outdated, with the fix, and the fix works."""

from __future__ import annotations

import json
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import edge_agent
from tests.fleet.conftest import Lab
from tfstudio.cli import main
from tfstudio.fleet.agent_bundle import build_agent_bytes


def _old_agent_pyz(tmp: Path, version: str) -> Path:
    """A real agent zipapp, built as the studio builds it, whose package says `version`."""
    source = tmp / "old-agent" / "edge_agent"
    shutil.copytree(Path(edge_agent.__file__).parent, source,
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    init = source / "__init__.py"
    text = init.read_text()
    init.write_text(text.replace('__version__ = "', f'__version__ = "{version}"  # was "', 1))
    target = tmp / "old.pyz"
    target.write_bytes(build_agent_bytes(source))
    check = subprocess.run(
        [sys.executable, str(target), "--home", str(tmp / "h"), "version", "--json"],
        capture_output=True,
        text=True,
    )
    assert json.loads(check.stdout)["agent_version"] == version
    return target


def test_outdated_agent_is_named_with_the_fix(lab: Lab, tmp_path: Path, capsys) -> None:
    device = lab.add("oldagent")
    old = _old_agent_pyz(tmp_path, "0.0.1")
    remote_home = Path(pwd.getpwnam(device.user).pw_dir) / device.agent_home
    on_device = remote_home / "tfstudio-agent.pyz"
    assert on_device.exists()
    on_device.write_bytes(old.read_bytes())

    assert main(["devices", "check", "oldagent", "--json"]) == 1
    (report,) = json.loads(capsys.readouterr().out)
    assert report["agent"] == "outdated"
    assert report["agent_version"] == "0.0.1"
    assert "tfstudio agent install oldagent" in report["hint"]

    assert main(["agent", "install", "oldagent"]) == 0
    capsys.readouterr()
    assert main(["devices", "check", "oldagent", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["agent"] == "ok"
