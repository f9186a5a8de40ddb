"""Faults that used to print tracebacks: each is one line now (real sshd, real processes)."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fleet.conftest import Lab, server_key
from tests.helpers.sshd import free_port
from tfstudio.cli import main
from tfstudio.errors import HostKeyError, TransportError
from tfstudio.fleet import registry
from tfstudio.fleet.connect import open_transport
from tfstudio.transport import hostkeys


def _cli(studio_home: Path, *argv: str, stdout: int | None = subprocess.PIPE):
    env = {**os.environ, "TFSTUDIO_HOME": str(studio_home)}
    return subprocess.run(
        [sys.executable, "-m", "tfstudio", *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def not_ssh() -> Iterator[dict[str, int]]:
    """Two ports that are not SSH: one answers HTTP, one resets during the banner."""
    servers = {"http": socket.socket(), "reset": socket.socket()}
    for sock in servers.values():
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
    stop = threading.Event()

    def serve(kind: str, sock: socket.socket) -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            if kind == "http":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            else:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    threads = [threading.Thread(target=serve, args=item, daemon=True) for item in servers.items()]
    for t in threads:
        t.start()
    yield {kind: sock.getsockname()[1] for kind, sock in servers.items()}
    stop.set()
    for t in threads:
        t.join(timeout=5)
    for sock in servers.values():
        sock.close()


def test_a_port_that_is_not_ssh_is_one_line_and_paramiko_logs_to_a_file(
    lab: Lab, not_ssh: dict[str, int], studio_home: Path
) -> None:
    for kind, port in not_ssh.items():
        registry.add_device(
            registry.Device(name=f"not-{kind}", host="127.0.0.1", port=port, user="x")
        )
        done = _cli(studio_home, "devices", "check", f"not-{kind}")
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert "Traceback" not in done.stderr and len(lines) == 2, done.stderr
        assert f"not-{kind}" in lines[0] and "SSH" in lines[0]
    log = studio_home / "logs" / "ssh.log"
    assert "paramiko" in log.read_text() or "SSH protocol banner" in log.read_text()


def test_a_bad_proxyjump_port_is_one_line(tmp_path: Path, capsys) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host cam\n  HostName 10.9.9.9\n  ProxyJump bastion:notaport\n")
    registry.add_device(registry.Device(name="cam", host="cam", ssh_config=str(config)))
    for argv in (["devices", "trust", "cam"], ["devices", "check", "cam"]):
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert "Traceback" not in err and "ValueError" not in err
        assert "Invalid ProxyJump" in err and "notaport" in err  # ssh's own words


def _jump_config(tmp_path: Path, lab: Lab, jump_port: int, target_port: int) -> Path:
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host j3\n  HostName 127.0.0.1\n  Port {jump_port}\n  User {lab.users[0]}\n"
        f"  IdentityFile {lab.sshd.client_key}\n"
        f"Host t3\n  HostName 127.0.0.1\n  Port {target_port}\n  User {lab.users[0]}\n"
        f"  IdentityFile {lab.sshd.client_key}\n  ProxyJump j3\n"
    )
    return config


def test_the_jump_host_trust_hint_keeps_the_port_and_works(
    lab: Lab, tmp_path: Path, capsys
) -> None:
    jump, target = lab.servers[3], lab.servers[4]
    config = _jump_config(tmp_path, lab, jump.port, target.port)
    hostkeys.record("127.0.0.1", target.port, server_key(target))
    device = registry.add_device(registry.Device(name="t3", host="t3", ssh_config=str(config)))
    with pytest.raises(HostKeyError) as info:
        open_transport(device)
    hint = info.value.hint or ""
    assert f"--port {jump.port}" in hint, hint
    command = hint.split("run: ", 1)[1]
    for part in command.split(" && "):
        words = part.split()
        assert words[0] == "tfstudio"
        assert main(words[1:]) == 0, part
    capsys.readouterr()
    with open_transport(device) as transport:
        assert transport.run(["true"]).ok


def test_a_refused_jump_names_the_jump_host(lab: Lab, tmp_path: Path) -> None:
    closed = free_port()
    config = _jump_config(tmp_path, lab, closed, lab.servers[4].port)
    device = registry.add_device(registry.Device(name="t4", host="t3", ssh_config=str(config)))
    with pytest.raises(TransportError) as info:
        open_transport(device)
    assert f"jump host j3 (127.0.0.1:{closed})" in info.value.message
    assert "on the device" not in (info.value.hint or "")
    assert "jump host" in (info.value.hint or "")


def test_a_closed_pipe_ends_quietly(studio_home: Path, tiny_models: dict[str, Path]) -> None:
    for argv in (["devices", "list", "--json"], ["inspect", str(tiny_models["int8"]), "--json"]):
        env = {**os.environ, "TFSTUDIO_HOME": str(studio_home)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tfstudio", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        proc.stdout.close()  # the reader went away before a byte was written (`| head -0`)
        err = proc.stderr.read().decode() if proc.stderr else ""
        proc.wait(timeout=120)
        assert err == "", err
        assert proc.returncode == 141


def test_cert_authority_and_revoked_lines_are_understood(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    revoked, fine, unknown = lab.servers[5], lab.servers[6], lab.servers[0]
    ca_line = server_key(lab.servers[1]).get_base64()  # any ed25519 key stands for a CA
    known = tmp_path / "known_hosts"
    known.write_text(
        "\n".join(
            [
                f"@cert-authority *.example.com ssh-ed25519 {ca_line}",
                f"@revoked [127.0.0.1]:{revoked.port} {revoked.host_pub_line}",
                f"[127.0.0.1]:{revoked.port} {revoked.host_pub_line}",
                f"[127.0.0.1]:{fine.port} {fine.host_pub_line}",
                "this line is not a known_hosts line",
                f"[127.0.0.1]:1 ssh-ed25519 {base64.b64encode(b'not a key').decode()}",
                "",
            ]
        )
    )
    config = tmp_path / "ssh_config"
    config.write_text(f"Host *\n  UserKnownHostsFile {known}\n")
    for name, server in (("revoked", revoked), ("fine", fine), ("unknown", unknown)):
        device = lab.add(f"kh-{name}", server=server, trust=False, install=False)
        registry.add_device(replace(device, ssh_config=str(config)), replace_existing=True)
    with open_transport(registry.get_device("kh-fine")) as transport:
        assert transport.run(["true"]).ok
    with pytest.raises(HostKeyError, match="REVOKED"):
        open_transport(registry.get_device("kh-revoked"))
    with pytest.raises(HostKeyError, match="unknown"):
        open_transport(registry.get_device("kh-unknown"))  # a CA for *.example.com is not its
    assert main(["devices", "check", "kh-revoked,kh-unknown", "--json"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    results = {r["device"]: r for r in json.loads(captured.out)}
    assert "REVOKED" in results["kh-revoked"]["error"]
    # Trust (the UI's scan, then the CLI's trust) never offers a revoked key,
    # even with its fingerprint given.
    from tfstudio.errors import HostKeyRevokedError
    from tfstudio.studio import Studio

    with pytest.raises(HostKeyRevokedError):
        Studio().scan_host_key("kh-revoked")
    argv = ["devices", "trust", "kh-revoked", "--fingerprint", revoked.host_fingerprint]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "REVOKED" in err and "Traceback" not in err
