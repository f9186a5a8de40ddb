"""`devices import` from inventories users already have: YAML with children and group vars,
an ssh config's Host entries, re-imports that update rather than duplicate, and
`devices trust --all-new` asking once for every new host key (on a real terminal)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

from tests.fleet.conftest import Lab, server_key
from tfstudio.cli import main
from tfstudio.fleet import registry
from tfstudio.transport import hostkeys

REPO = Path(__file__).resolve().parents[2]

YAML = """\
all:
  vars:
    ansible_python_interpreter: /usr/bin/python3
  children:
    europe:
      vars:
        ansible_user: ops
        site: eu
      children:
        cameras:
          hosts:
            cam-1:
              ansible_host: 10.0.0.11
            cam-2:
              ansible_host: 10.0.0.12
              ansible_port: 2202
          vars:
            ansible_user: pi
            tfstudio_labels: {hw: pi4}
        gateways:
          hosts:
            gw-[1:2]:
              ansible_connection: ssh
    lab:
      hosts:
        cam-1:
        bench-1:
          ansible_connection: local
"""


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_yaml_inventory_with_children_and_group_vars(tmp_path: Path, capsys) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(YAML)
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "gateways.yml").write_text("ansible_port: 2222\n")
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "gw-2.yaml").write_text("ansible_host: 10.0.1.2\n")
    assert main(["devices", "import", str(inventory), "--json"]) == 0
    result = _json(capsys)
    assert [c["name"] for c in result["changes"]] == ["cam-1", "cam-2", "gw-1", "gw-2"]
    assert {c["action"] for c in result["changes"]} == {"added"}
    assert [s["name"] for s in result["skipped"]] == ["bench-1"]
    assert "ansible_connection is local" in result["skipped"][0]["reason"]

    cam1, cam2 = registry.get_device("cam-1"), registry.get_device("cam-2")
    assert (cam1.host, cam1.port, cam1.user) == ("10.0.0.11", None, "pi")  # child wins
    assert (cam2.host, cam2.port) == ("10.0.0.12", 2202)
    assert cam1.python == "/usr/bin/python3" and cam1.labels == {"hw": "pi4"}
    assert set(cam1.groups) == {"europe", "cameras", "lab"}
    assert cam2.groups == ("europe", "cameras")
    gw1, gw2 = registry.get_device("gw-1"), registry.get_device("gw-2")
    assert (gw1.host, gw1.port, gw1.user) == ("gw-1", 2222, "ops")
    assert gw2.host == "10.0.1.2"

    assert main(["devices", "list", "group:europe,hw=pi4", "--json"]) == 0
    assert [d["name"] for d in _json(capsys)] == ["cam-1", "cam-2"]
    assert main(["devices", "list", "group:lab", "--json"]) == 0
    assert [d["name"] for d in _json(capsys)] == ["cam-1"]


def test_reimport_is_idempotent_and_says_what_changed(tmp_path: Path, capsys) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[cams]\ncam-[1:3] ansible_host=10.0.0.1\n[cams:vars]\nansible_user=pi\n")
    assert main(["devices", "import", str(inventory)]) == 0
    assert "3 added" in capsys.readouterr().out
    assert main(["devices", "label", "cam-1", "site=roof"]) == 0
    capsys.readouterr()
    stored = registry.registry_path().read_bytes()

    assert main(["devices", "import", str(inventory)]) == 0
    assert capsys.readouterr().out.strip().endswith("3 unchanged")
    assert registry.registry_path().read_bytes() == stored  # not even rewritten

    inventory.write_text("[cams]\ncam-[1:2] ansible_host=10.0.0.1 ansible_port=2222\n"
                         "[cams:vars]\nansible_user=pi\n")  # fmt: skip
    assert main(["devices", "import", str(inventory), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "cam-1: would be changed: port - -> 2222" in out and "would be 2 changed, 1 gone" in out
    assert registry.registry_path().read_bytes() == stored
    assert main(["devices", "import", str(inventory), "--json"]) == 0
    changes = {c["name"]: c for c in _json(capsys)["changes"]}
    assert changes["cam-1"]["fields"] == {"port": {"old": None, "new": 2222}}
    assert changes["cam-3"]["action"] == "gone"
    assert registry.get_device("cam-1").labels == {"site": "roof"}  # set by hand: kept
    assert [d.name for d in registry.list_devices()] == ["local", "cam-1", "cam-2", "cam-3"]
    assert main(["devices", "import", str(inventory), "--prune"]) == 0
    assert "cam-3: removed" in capsys.readouterr().out
    assert [d.name for d in registry.list_devices()] == ["local", "cam-1", "cam-2"]


def test_ssh_config_host_entries_become_devices(tmp_path: Path, capsys) -> None:
    extra = tmp_path / "more.conf"
    extra.write_text("Host gw-east\n  HostName 10.2.0.1\n")
    config = tmp_path / "config"
    config.write_text(
        f"Include {extra}\n"
        "Host pi-kitchen pi-garage *.lab !pi-attic\n  User pi\n"
        'Host "pi cellar"\n  HostName 10.9.9.9\n'
        "Match host pi-*\n  Port 2222\nHost *\n  ServerAliveInterval 10\n"
    )
    assert main(["devices", "import", str(config), "--ssh-config", "--json"]) == 0
    result = _json(capsys)
    assert [c["name"] for c in result["changes"]] == ["gw-east", "pi-kitchen", "pi-garage"]
    assert [s["name"] for s in result["skipped"]] == ["pi cellar"]
    kitchen = registry.get_device("pi-kitchen")
    assert kitchen.host == "pi-kitchen" and kitchen.ssh_config == str(config.resolve())
    assert kitchen.user is None and kitchen.port is None  # ssh resolves them at connect
    assert main(["devices", "import", str(config), "--ssh-config"]) == 0
    assert "3 unchanged" in capsys.readouterr().out


def _pty_run(argv: list[str], answer: bytes, env: dict[str, str]) -> tuple[int, str]:
    """Runs the CLI on a real pseudo-terminal, answers its prompt; returns (code, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI with the terminal as its stdin/stdout/stderr
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "tfstudio", *argv], env)
    out = b""
    deadline = time.monotonic() + 120
    answered = False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if not answered and b"[y/N]" in out:
            os.write(fd, answer)
            answered = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_trust_all_new_shows_every_fingerprint_and_asks_once(
    lab: Lab, studio_home: Path, capsys
) -> None:
    names = ["tr-a", "tr-b", "tr-c"]
    for i, name in enumerate(names):
        lab.add(name, server=i, trust=False, install=False)
    hostkeys.record("127.0.0.1", lab.servers[2].port, server_key(lab.servers[2]))
    env = {**os.environ, "TFSTUDIO_HOME": str(studio_home)}
    plain = [sys.executable, "-m", "tfstudio", "devices", "trust", "--all-new"]

    proc = subprocess.run(plain, capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 1  # no terminal to confirm on: nothing recorded, one line
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tfstudio: error:")]
    assert len(errors) == 1 and "2 new host keys" in errors[0], proc.stderr

    code, out = _pty_run(["devices", "trust", "--all-new"], b"n\n", env)
    assert code == 1 and "nothing recorded" in out
    assert out.count("[y/N]") == 1
    for server in lab.servers[:2]:
        assert server.host_fingerprint in out
    assert lab.servers[2].host_fingerprint not in out  # already trusted: not offered

    code, out = _pty_run(["devices", "trust", "--all-new"], b"y\n", env)
    assert code == 0 and "trusted 2 host keys (1 already trusted)" in out
    assert main(["devices", "trust", "--all-new"]) == 0
    assert "no new host keys (3 already trusted)" in capsys.readouterr().out
    assert subprocess.run(plain, capture_output=True, env=env, cwd=REPO).returncode == 0
