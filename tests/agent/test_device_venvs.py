"""The agent on real device environments: the old device (tflite-runtime 2.14, numpy 1)
and a clean device venv (numpy + ai-edge-litert only), via `-m edge_agent` and the zipapp."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest


@pytest.fixture(params=["module", "pyz"])
def old_device(request, agent, device_venvs, agent_pyz):
    """Runs the agent with the old-device venv's Python, as a module or as the zipapp."""
    python = str(device_venvs["old-device"])
    pyz = agent_pyz if request.param == "pyz" else None

    def run(*args, **kw):
        return agent(*args, python=python, pyz=pyz, **kw)

    return run


def test_old_device_refuses_dynamic_model_naming_op_version_and_runtime(old_device, tiny_models):
    base = old_device("install", str(tiny_models["int8"]), "--json")
    assert base.rc == 0, base.stdout + base.stderr
    active = base.json["sha256"]

    run = old_device("install", str(tiny_models["dynamic"]), "--json")
    assert run.rc == 1
    err = run.json
    assert err["code"] == "runtime_too_old"
    assert "FULLY_CONNECTED" in err["error"]
    assert "version 12" in err["error"]
    assert "tflite-runtime 2.14.0" in err["error"]
    assert "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'" in err["error"]
    assert "2.17.0" in err["hint"] and "ai-edge-litert" in err["hint"]

    listing = old_device("list", "--json").json
    assert listing["active"] == active
    assert [m["sha256"] for m in listing["models"]] == [active]


def test_old_device_info_names_its_runtime(old_device):
    info = old_device("info", "--json").json
    assert info["runtime"]["name"] == "tflite-runtime"
    assert info["runtime"]["version"] == "2.14.0"
    assert info["numpy"].startswith("1.")


def test_old_device_benches_int8(old_device, tiny_models):
    run = old_device(
        "bench", "--model", str(tiny_models["int8"]), "--runs", "20", "--min-seconds", "0.1",
        "--warmup", "2", "--warmup-min-seconds", "0.05", "--json",
    )  # fmt: skip
    assert run.rc == 0, run.stdout + run.stderr
    assert run.json["runtime"]["name"] == "tflite-runtime"
    assert run.json["runs"] >= 20


def test_clean_device_venv_has_no_studio(device_venvs):
    python = str(device_venvs["device"])
    # The caller's PYTHONPATH (the suite runs with PYTHONPATH=worktree) is not the venv's.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for module in ("tfstudio", "tensorflow"):
        proc = subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, cwd="/", env=env
        )
        assert proc.returncode != 0, f"{module} must not be importable in the clean device venv"


def test_pyz_runs_on_clean_device_venv(agent, agent_pyz, device_venvs, tiny_models):
    python = str(device_venvs["device"])
    info = agent("info", "--json", python=python, pyz=agent_pyz).json
    assert info["runtime"]["name"] == "ai-edge-litert"
    run = agent("install", str(tiny_models["dynamic"]), "--json", python=python, pyz=agent_pyz)
    assert run.rc == 0, run.stdout + run.stderr
    assert run.json["active"] == hashlib.sha256(tiny_models["dynamic"].read_bytes()).hexdigest()
    bench = agent(
        "bench", "--runs", "20", "--min-seconds", "0.1", "--warmup", "2",
        "--warmup-min-seconds", "0.05", "--json", python=python, pyz=agent_pyz,
    )  # fmt: skip
    assert bench.rc == 0 and bench.json["model"]["sha256"] == run.json["sha256"]


def test_pyz_build_is_deterministic(agent_pyz, tmp_path):
    from tfstudio.fleet.agent_bundle import agent_bundle_sha256, build_agent_pyz

    again = build_agent_pyz(tmp_path / "again.pyz")
    digest = hashlib.sha256(agent_pyz.read_bytes()).hexdigest()
    assert hashlib.sha256(again.read_bytes()).hexdigest() == digest
    assert agent_bundle_sha256() == digest
    assert agent_pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
