"""The registry commands' --json output and their one-line errors (no sshd needed)."""

from __future__ import annotations

import json

from tfstudio.cli import main


def _out(capsys) -> object:
    return json.loads(capsys.readouterr().out)


def test_devices_add_list_show_remove_json(capsys) -> None:
    argv = ["devices", "add", "cam-1", "--host", "cam.local", "--port", "2222", "--user", "pi"]
    assert main([*argv, "--agent-home", "~/edge agent", "--json"]) == 0
    added = _out(capsys)
    assert (
        added["name"] == "cam-1" and added["port"] == 2222 and added["agent_home"] == "edge agent"
    )
    assert main(["devices", "list", "--json"]) == 0
    assert [d["name"] for d in _out(capsys)] == ["local", "cam-1"]
    assert main(["devices", "show", "cam-1", "--json"]) == 0
    assert _out(capsys)["host"] == "cam.local"
    assert main(["devices", "add", "cam-1", "--host", "other", "--json"]) == 1
    assert "already exists" in _out(capsys)["error"]
    assert main(["devices", "remove", "cam-1", "--json"]) == 0
    assert _out(capsys) == {"removed": "cam-1"}
    assert main(["devices", "remove", "cam-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tfstudio: error: no device named 'cam-1'") and err.count("\n") == 1


def test_registry_survives_a_restart(capsys) -> None:
    assert main(["devices", "add", "keep", "--host", "10.0.0.9"]) == 0
    import subprocess
    import sys

    listed = subprocess.run(
        [sys.executable, "-m", "tfstudio", "devices", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "keep" in [d["name"] for d in json.loads(listed.stdout)]


def test_local_cannot_be_redefined_and_bench_needs_one_target(capsys) -> None:
    assert main(["devices", "add", "local", "--host", "x"]) == 1
    assert "built-in" in capsys.readouterr().err
    assert main(["bench", "--on", "local"]) == 2
    assert "MODEL.tflite or --active" in capsys.readouterr().err
    assert main(["devices", "trust", "local", "--json"]) == 2
    assert "no host key" in _out(capsys)["error"]
