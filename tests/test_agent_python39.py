"""The agent's oldest promise: Python 3.9 with numpy 1 and tflite-runtime.

`py39-device` (built by scripts/prepare-test-env.sh from pyenv's 3.9) runs the
zipapp the studio would push, with nothing of the studio importable.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import VENVS
from tfstudio.fleet.agent_bundle import build_agent_pyz


@pytest.fixture(scope="module")
def py39() -> Path:
    python = VENVS / "py39-device" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} missing: run scripts/prepare-test-env.sh (needs a Python 3.9)")
    return python


def _agent(py39: Path, pyz: Path, home: Path, *args: str) -> tuple[int, dict]:
    proc = subprocess.run(
        [str(py39), str(pyz), "--home", str(home), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home.parent)},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines, proc.stderr
    return proc.returncode, json.loads(lines[-1])


def test_agent_runs_on_python39_numpy1(
    py39: Path, tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    pyz = build_agent_pyz(tmp_path)
    home = tmp_path / "home"

    rc, info = _agent(py39, pyz, home, "info")
    assert rc == 0, info
    assert info["python"].startswith("3.9.")
    assert info["numpy"].startswith("1.")
    assert info["runtime"]["name"] == "tflite-runtime"

    rc, installed = _agent(py39, pyz, home, "install", str(tiny_models["int8"]), "--name", "mlp")
    assert rc == 0, installed
    assert installed["activated"] is True

    rc, refused = _agent(py39, pyz, home, "install", str(tiny_models["dynamic"]))
    assert rc == 1
    assert refused["code"] == "runtime_too_old"
    assert "FULLY_CONNECTED" in refused["error"]

    rc, report = _agent(
        py39, pyz, home, "bench", "--runs", "5", "--warmup", "1", "--min-seconds", "0",
        "--warmup-min-seconds", "0",
    )  # fmt: skip
    assert rc == 0, report
    assert report["model"]["sha256"] == installed["sha256"]
    assert 0 < report["p50_ms"] <= report["p99_ms"]

    import numpy as np

    data = tmp_path / "eval.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.random((20, 64), dtype=np.float32), y=rng.integers(0, 10, 20))
    rc, evaluated = _agent(py39, pyz, home, "eval", str(data))
    assert rc == 0, evaluated
    assert evaluated["data"]["samples"] == 20 and 0 <= evaluated["accuracy"] <= 1

    rc, sweep = _agent(
        py39, pyz, home, "bench", "--runs", "5", "--warmup", "1", "--min-seconds", "0",
        "--warmup-min-seconds", "0", "--threads", "1,2",
    )  # fmt: skip
    assert rc == 0, sweep
    assert [r["threads"] for r in sweep["sweep"]] == [1, 2]

    rc, enabled = _agent(py39, pyz, home, "service", "enable", "--port", "0", "--mode", "process")
    try:
        assert rc == 0, enabled
        assert enabled["running"] and enabled["active"]["name"] == "mlp"
    finally:
        rc, stopped = _agent(py39, pyz, home, "service", "disable")
    assert rc == 0 and stopped["stopped"] is True


def test_a_deploy_session_runs_on_python39_numpy1(
    py39: Path, tmp_path: Path, tiny_models: dict[str, Path]
) -> None:
    """The session mode (what every deploy uses) on the oldest Python the agent supports."""
    import hashlib

    pyz = build_agent_pyz(tmp_path)
    home = tmp_path / "home"
    data = tiny_models["int8"].read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    import numpy as np

    eval_data = tmp_path / "eval.npz"
    rng = np.random.default_rng(0)
    np.savez(eval_data, x=rng.random((20, 64), dtype=np.float32), y=rng.integers(0, 10, 20))
    proc = subprocess.Popen(
        [str(py39), str(pyz), "--home", str(home), "session"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home.parent)},
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None

    def call(op: str, args: dict, body: bytes = b"") -> dict:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps({"id": 1, "op": op, "args": args}) + "\n").encode() + body)
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        assert answer["ok"], answer
        return dict(answer["result"])

    try:
        hello = json.loads(proc.stdout.readline())
        assert hello["session"] == 1
        call("lock", {"id": "deploy-py39test"})
        info = call("info", {})
        assert info["runtime"]["name"] == "tflite-runtime"
        assert info["runtime"]["flex_delegate"] is False and info["service"]["enabled"] is False
        uploaded = call("upload", {"sha256": sha, "total": len(data), "length": len(data)}, data)
        assert uploaded["sha256"] == sha
        installed = call("install", {"path": str(home / "inbox" / f"{sha}.partial"), "sha256": sha})
        assert installed["active"] == sha and installed["validation"]["ok"]
        quick = {"runs": 5, "warmup": 1, "min_seconds": 0, "warmup_min_seconds": 0}
        report = call("bench", quick)
        assert report["runtime"]["name"] == "tflite-runtime" and report["p50_ms"] > 0
        sweep = call("bench", {**quick, "threads": "1,2"})
        assert [r["threads"] for r in sweep["sweep"]] == [1, 2]
        evaluated = call("eval", {"data_path": str(eval_data), "with_top1": True})
        assert evaluated["data"]["samples"] == 20 and len(evaluated["top1"]) == 20
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
