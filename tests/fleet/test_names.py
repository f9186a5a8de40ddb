"""Names and paths: hostile device names are rejected; odd remote paths are quoted safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fleet.conftest import Lab
from tfstudio.cli import main
from tfstudio.deploy.options import DeployOptions
from tfstudio.deploy.run import deploy_one
from tfstudio.errors import DeviceError
from tfstudio.fleet import registry
from tfstudio.fleet.connect import open_transport
from tfstudio.models.facts import inspect_model
from tfstudio.transport.base import command_line


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


HOSTILE_FIELDS = [
    ("--host", "-oProxyCommand=touch /tmp/x"),
    ("--port", "0"),
    ("--port", "70000"),
    ("--user", "-oProxyCommand=x"),
    ("--user", "root;id"),
    ("--user", "a\nb"),
    ("--key", "key\nfile"),
    ("--key", "/no/such/key"),
    ("--python", "-cimport os;os.system('touch /tmp/x')"),
    ("--python", "python3\n-c"),
    ("--python", ""),
    ("--agent-home", "-cimport os;os.system('touch /tmp/x')#"),
    ("--agent-home", "~/-c"),
    ("--agent-home", "~someone/x"),
    ("--agent-home", "~"),
    ("--agent-home", "a/../../etc"),
    ("--agent-home", "a\nb"),
    ("--agent-home", ""),
    ("--ssh-config", "/no/such/config"),
    ("--ssh-config", "conf\nig"),
]


@pytest.mark.parametrize(("flag", "value"), HOSTILE_FIELDS)
def test_hostile_values_of_every_field_are_refused(flag: str, value: str, capsys) -> None:
    argv = ["devices", "add", "victim", "--host", "127.0.0.1", f"{flag}={value}"]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not registry.registry_path().exists() or "victim" not in (
        registry.registry_path().read_text()
    )


def test_absolute_and_home_relative_agent_homes_are_accepted(tmp_path: Path, capsys) -> None:
    for name, home in (("abs", "/srv/tfstudio agent"), ("tilde", "~/edge"), ("dash", "~/a/-b")):
        assert main(["devices", "add", name, "--host", "h", f"--agent-home={home}"]) == 0
    capsys.readouterr()
    assert registry.get_device("abs").agent_home == "/srv/tfstudio agent"
    assert registry.get_device("tilde").agent_home == "edge"
    assert registry.get_device("dash").agent_home == "a/-b"


def test_a_hand_edited_hostile_registry_runs_no_code_on_the_device(
    lab: Lab, tiny_models: dict[str, Path], capsys
) -> None:
    import json
    import uuid

    lab.add("edited", server=4, user=1)
    marker = Path(f"/tmp/tfstudio-pwned-{uuid.uuid4().hex}")
    path = registry.registry_path()
    data = json.loads(path.read_text())
    data["devices"]["edited"]["agent_home"] = f"-cimport os;open('{marker}','w')#"
    path.write_text(json.dumps(data))
    try:
        code = main(["deploy", str(tiny_models["float32"]), "--to", "edited", "--json"])
        assert main(["devices", "check", "edited"]) != 0
        assert not marker.exists(), "the agent home was run as Python code on the device"
        assert code != 0
        err = capsys.readouterr().err
        assert "agent home" in err and "Traceback" not in err
    finally:
        marker.unlink(missing_ok=True)


def test_a_model_file_named_like_an_option_deploys(
    lab: Lab, tiny_models: dict[str, Path], tmp_path: Path, capsys
) -> None:
    import json
    import shutil

    from tests.fleet.conftest import listing

    lab.add("dashname", server=5)
    model = tmp_path / "-x.tflite"
    shutil.copy(tiny_models["float16"], model)
    assert main(["deploy", "--to", "dashname", "--json", "--", str(model)]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["status"] == "ok", result["message"]
    stored = listing(registry.get_device("dashname"))
    assert [m["name"] for m in stored["models"]] == ["-x.tflite"]
    # The built-in local device passes the same words to a local agent process.
    assert main(["deploy", "--to", "local", "--json", "--", str(model)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "ok"
