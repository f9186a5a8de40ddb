"""The newcomer's path: the demo, then the next step it prints, on the built-in device."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path


def _tfstudio(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tfstudio", *args], capture_output=True, text=True, timeout=600
    )


def test_demo_then_its_next_step_deploys_to_local(tmp_path: Path) -> None:
    demo = _tfstudio("demo", "-o", str(tmp_path / "demo"))
    assert demo.returncode == 0, demo.stderr
    table = demo.stdout
    for mode in ("float32", "dynamic", "float16", "int8", "int16x8"):
        assert f"\n{mode} " in table
    next_lines = [ln for ln in table.splitlines() if ln.startswith("next: tfstudio ")]
    assert len(next_lines) == 1, table

    argv = shlex.split(next_lines[0].removeprefix("next: tfstudio "))
    deploy = _tfstudio(*argv, "--json")
    assert deploy.returncode == 0, deploy.stderr
    (result,) = json.loads(deploy.stdout)
    assert result["device"] == "local" and result["status"] == "ok"
    assert result["bench"]["p99_ms"] > 0

    manifest = json.loads((tmp_path / "demo" / "digits.int8.json").read_text())
    assert manifest["chain"][-1]["device"] == "local"
