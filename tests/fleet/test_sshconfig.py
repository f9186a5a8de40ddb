"""`~/.ssh/config` aliases (HostName, Port, User, IdentityFile) and ProxyJump, via real sshd."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fleet.conftest import Lab, server_key
from tests.helpers.sshd import SshdFactory
from tfstudio.cli import main
from tfstudio.errors import TransportError
from tfstudio.fleet import registry
from tfstudio.fleet.connect import open_transport
from tfstudio.transport import hostkeys, sshconfig


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return path


def test_alias_applies_hostname_port_user_identityfile(lab: Lab, tmp_path: Path, capsys) -> None:
    server = lab.servers[2]
    config = _config(
        tmp_path,
        f"Host edge-box\n  HostName 127.0.0.1\n  Port {server.port}\n  User {lab.users[1]}\n"
        f"  IdentityFile {lab.sshd.client_key}\n  ConnectTimeout 7\n",
    )
    target = sshconfig.resolve("edge-box", config_path=config)
    assert (target.hostname, target.port, target.user) == ("127.0.0.1", server.port, lab.users[1])
    assert target.connect_timeout == 7
    hostkeys.record("127.0.0.1", server.port, server_key(server))
    assert (
        main(
            ["devices", "add", "boxy", "--host", "edge-box", "--ssh-config", str(config), "--json"]
        )
        == 0
    )
    capsys.readouterr()
    with open_transport(registry.get_device("boxy")) as transport:
        assert transport.run(["id", "-un"]).stdout.strip() == lab.users[1]


def test_proxyjump_goes_through_the_jump_host(lab: Lab, sshd: SshdFactory, tmp_path: Path) -> None:
    jump, target = lab.servers[3], lab.servers[4]
    config = _config(
        tmp_path,
        f"Host jumper\n  HostName 127.0.0.1\n  Port {jump.port}\n  User {lab.users[0]}\n"
        f"  IdentityFile {lab.sshd.client_key}\n"
        f"Host behind\n  HostName 127.0.0.1\n  Port {target.port}\n  User {lab.users[1]}\n"
        f"  IdentityFile {lab.sshd.client_key}\n  ProxyJump jumper\n",
    )
    resolved = sshconfig.resolve("behind", config_path=config)
    assert resolved.jump is not None and resolved.jump.port == jump.port
    for server in (jump, target):
        hostkeys.record("127.0.0.1", server.port, server_key(server))
    device = registry.add_device(
        registry.Device(name="behind", host="behind", ssh_config=str(config))
    )
    with open_transport(device) as transport:
        assert transport.run(["id", "-un"]).stdout.strip() == lab.users[1]

    # The same route through a jump host that forbids forwarding fails at the jump:
    # the connection really goes through it.
    closed = sshd.start(f"nofwd{len(sshd.servers)}", extra_config="AllowTcpForwarding no")
    try:
        config.write_text(config.read_text().replace(str(jump.port), str(closed.port)))
        hostkeys.record("127.0.0.1", closed.port, server_key(closed))
        with pytest.raises(TransportError, match="jump host .* could not reach"):
            open_transport(device)
    finally:
        closed.stop()


def test_unknown_jump_host_key_is_refused(lab: Lab, tmp_path: Path) -> None:
    jump, target = lab.servers[3], lab.servers[4]
    config = _config(
        tmp_path,
        f"Host j2\n  HostName 127.0.0.1\n  Port {jump.port}\n  User {lab.users[0]}\n"
        f"  IdentityFile {lab.sshd.client_key}\n"
        f"Host t2\n  HostName 127.0.0.1\n  Port {target.port}\n  User {lab.users[0]}\n"
        f"  IdentityFile {lab.sshd.client_key}\n  ProxyJump j2\n",
    )
    hostkeys.record("127.0.0.1", target.port, server_key(target))
    device = registry.add_device(registry.Device(name="t2", host="t2", ssh_config=str(config)))
    from tfstudio.errors import HostKeyError

    with pytest.raises(
        HostKeyError, match=f"jump host key of \\[127.0.0.1\\]:{jump.port} is unknown"
    ) as info:
        open_transport(device)
    # The hint registers the jump host by address and port, so that following it
    # trusts the host this connection really goes through.
    expected = f"tfstudio devices add j2 --host 127.0.0.1 --port {jump.port} && "
    assert expected + "tfstudio devices trust j2 --fingerprint" in (info.value.hint or "")
