"""Authentication faults give one clear line; encrypted keys ask for a passphrase."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.fleet.conftest import Lab
from tests.helpers.sshd import keygen
from tfstudio.cli import main
from tfstudio.errors import TransportError
from tfstudio.fleet import registry
from tfstudio.fleet.connect import open_transport


def test_wrong_user_is_one_clear_line(lab: Lab, capsys) -> None:
    lab.add("wronguser", install=False)
    registry.update_device("wronguser", user="nosuchuser")
    assert main(["devices", "check", "wronguser"]) == 1
    err = capsys.readouterr().err
    assert "authentication failed for nosuchuser@127.0.0.1" in err
    assert "Traceback" not in err


def test_wrong_key_is_one_clear_line(lab: Lab, tmp_path: Path) -> None:
    device = lab.add("wrongkey", install=False)
    other = keygen(tmp_path / "other_key")
    with pytest.raises(TransportError) as info:
        open_transport(replace(device, key=str(other)))
    assert "authentication failed" in info.value.message
    assert str(other) in info.value.message
    assert "\n" not in str(info.value)


def test_missing_key_file_is_named(lab: Lab, tmp_path: Path) -> None:
    device = lab.add("nokey", install=False)
    with pytest.raises(TransportError, match="key file .*not found"):
        open_transport(replace(device, key=str(tmp_path / "absent")))


def test_encrypted_key_uses_passphrase_callback(lab: Lab, tmp_path: Path) -> None:
    device = lab.add("enc", install=False)
    encrypted = tmp_path / "enc_key"
    encrypted.write_bytes(Path(lab.sshd.client_key).read_bytes())
    encrypted.chmod(0o600)
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-p", "-N", "s3cret", "-f", str(encrypted)], check=True)
    device = replace(device, key=str(encrypted))
    asked: list[str] = []

    def passphrase(path: str) -> str:
        asked.append(path)
        return "s3cret"

    with open_transport(device, passphrase=passphrase) as transport:
        assert transport.run(["true"]).ok
    assert asked == [str(encrypted)]
    with pytest.raises(TransportError, match="encrypted and no passphrase"):
        open_transport(device)
    with pytest.raises(TransportError, match="wrong passphrase"):
        open_transport(device, passphrase=lambda path: "nope")


def test_closed_port_is_connection_refused(lab: Lab) -> None:
    from tests.helpers.sshd import free_port

    device = registry.add_device(
        registry.Device(name="down", host="127.0.0.1", port=free_port(), user="x")
    )
    with pytest.raises(TransportError, match="connection refused by 127.0.0.1"):
        open_transport(device)


def test_ssh_agent_key_is_used(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            import time

            time.sleep(0.05)
        env = {"SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(lab.sshd.client_key)], env=env, check=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path))  # no default key files to fall back on
        device = lab.add("viaagent", install=False)
        device = replace(device, key=None)
        with open_transport(device) as transport:
            assert transport.run(["true"]).ok
    finally:
        agent.terminate()
        agent.wait(5)
