"""Offline units: preflight on captured `info` answers, ssh-config parsing, known_hosts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import paramiko
import pytest

from edge_agent.tflite_schema import OpInfo
from tfstudio.deploy import preflight
from tfstudio.errors import HostKeyError, PreflightError
from tfstudio.models.facts import inspect_model
from tfstudio.transport import hostkeys, sshconfig

DATA = Path(__file__).parent / "data"


def _info(name: str) -> dict:
    return json.loads((DATA / f"info_{name}.json").read_text())


def test_preflight_refuses_new_ops_on_old_runtime(tiny_models: dict[str, Path]) -> None:
    verdict = preflight.check(inspect_model(tiny_models["dynamic"]), _info("old_device"), "pi")
    assert [p.kind for p in verdict.problems] == ["runtime_too_old"]
    with pytest.raises(PreflightError) as info:
        verdict.raise_if_refused()
    assert "needs a LiteRT runtime >= 2.17.0" in info.value.message
    assert "tflite-runtime 2.14.0" in info.value.message
    assert "tfstudio agent install pi --runtime ai-edge-litert" in (info.value.hint or "")
    assert preflight.check(inspect_model(tiny_models["int8"]), _info("old_device"), "pi").ok


def test_preflight_names_missing_runtime_and_disk(tiny_models: dict[str, Path]) -> None:
    verdict = preflight.check(inspect_model(tiny_models["float32"]), _info("no_runtime"), "pi")
    kinds = [p.kind for p in verdict.problems]
    assert kinds == ["no_runtime", "disk_full"]
    assert "no numpy" in verdict.problems[0].message


def test_preflight_refuses_flex_ops(tiny_models: dict[str, Path]) -> None:
    facts = inspect_model(tiny_models["float32"])
    flex = replace(facts, ops=[*facts.ops, OpInfo("CUSTOM:FlexRFFT", 1)])
    verdict = preflight.check(flex, _info("old_device"), "pi")
    assert [p.kind for p in verdict.problems] == ["needs_tf_ops"]


def test_ssh_config_proxyjump_chain_and_user_host_port(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "Host bastion\n  HostName 10.0.0.1\n  User ops\n"
        "Host cam-*\n  User pi\n  ProxyJump bastion,admin@10.0.0.2:2200\n"
    )
    target = sshconfig.resolve("cam-7", config_path=config)
    assert (target.hostname, target.user, target.port) == ("cam-7", "pi", 22)
    assert target.jump is not None
    assert (target.jump.hostname, target.jump.user, target.jump.port) == ("10.0.0.2", "admin", 2200)
    assert target.jump.jump is not None and target.jump.jump.hostname == "10.0.0.1"
    assert target.describe() == "pi@cam-7:22 via admin@10.0.0.2:2200 via ops@10.0.0.1:22"
    explicit = sshconfig.resolve("cam-7", user="root", port=2022, config_path=config)
    assert (explicit.user, explicit.port) == ("root", 2022)


def test_known_hosts_entries_and_changed_keys() -> None:
    first = paramiko.RSAKey.generate(1024)
    second = paramiko.RSAKey.generate(1024)
    assert hostkeys.host_entry("h", 22) == "h" and hostkeys.host_entry("h", 2222) == "[h]:2222"
    path = hostkeys.record("h", 2222, first)
    assert path.read_text().startswith("[h]:2222 ssh-rsa ")
    hostkeys.verify("h", 2222, first)
    with pytest.raises(HostKeyError, match="unknown"):
        hostkeys.verify("h", 22, first)
    with pytest.raises(HostKeyError, match="CHANGED"):
        hostkeys.verify("h", 2222, second)
    with pytest.raises(HostKeyError, match="different ssh-rsa key"):
        hostkeys.record("h", 2222, second)
    hostkeys.record("h", 2222, second, replace=True)
    hostkeys.verify("h", 2222, second)
