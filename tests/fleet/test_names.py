"""Names and paths: hostile device names are rejected; odd remote paths are quoted safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fleet.conftest import Lab
from tfstudio.cli import main
from tfstudio.errors import DeviceError
from tfstudio.fleet import registry
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.deploy import DeployOptions, deploy_one
from tfstudio.fleet.transport import command_line
from tfstudio.modelinfo import inspect_model


@pytest.mark.parametrize(
    "name", ["../etc", "a/b", "a b", "a;b", "$(id)", "-rf", "..", "x" * 64, "", "a`b`", "é"]
)
def test_hostile_device_names_are_rejected(name: str, capsys) -> None:
    with pytest.raises(DeviceError):
        registry.add_device(registry.Device(name=name, host="127.0.0.1"))
    assert main(["devices", "add", "--host", "127.0.0.1", "--", name]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not registry.registry_path().exists() or name not in registry.registry_path().read_text()


@pytest.mark.parametrize("host", ["-oProxyCommand=x", "a b", "h;id", "$(id)"])
def test_hostile_hosts_are_rejected(host: str) -> None:
    with pytest.raises(DeviceError, match="invalid host"):
        registry.add_device(registry.Device(name="ok", host=host))


def test_agent_home_with_dotdot_is_rejected() -> None:
    with pytest.raises(DeviceError, match="agent home"):
        registry.add_device(registry.Device(name="ok", host="h", agent_home="x/../../etc"))


def test_command_line_quotes_every_word() -> None:
    assert command_line(["echo", "a b", "c;d", "$(id)"]) == "echo 'a b' 'c;d' '$(id)'"


def test_remote_home_with_spaces_and_semicolon_works(
    lab: Lab, tiny_models: dict[str, Path]
) -> None:
    home = "agent home; touch PWNED $(touch PWNED2)"
    device = lab.add("spacey", server=5, user=1, agent_home=home)
    model = tiny_models["float32"]
    result = deploy_one(model, inspect_model(model), device, DeployOptions())
    assert result.ok, result.message
    with open_transport(device) as transport:
        listing = transport.run(["ls", "-A"]).stdout.splitlines()
        assert home in listing
        assert "PWNED" not in listing and "PWNED2" not in listing
        stored = transport.run(["ls", f"{home}/models"]).stdout.split()
    assert result.sha256 in stored


def test_unknown_device_is_one_line(capsys) -> None:
    assert main(["deploy", "nothing.tflite", "--to", "ghost"]) != 0
    assert main(["devices", "show", "ghost", "--json"]) == 1
    out = capsys.readouterr().out
    assert '"error"' in out and "ghost" in out
