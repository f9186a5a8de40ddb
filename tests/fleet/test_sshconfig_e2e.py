"""ssh config directives end to end, tfstudio beside `ssh` on real sshd servers.

Each test writes an ssh config, connects with `ssh` (the oracle) and with tfstudio,
and reads the servers' own logs for what happened: which user logged in with which
key, and which jump host forwarded to which port.
- IdentitiesOnly: an agent key that `ssh` would not offer is not offered.
- IdentityFile: a missing file is skipped, the others are tried in order.
- ProxyJump `a,b` where `b` has a ProxyJump of its own: the route is a → b → target.
- ProxyJump `ssh://user@host:port`: the jump host sees that user.
- Include and `Match user`: the port a Match sets for the registry's user applies.
- ProxyCommand: the connection goes through the command, which sees %h and %p.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.sshd import SshdFactory, SshdServer, fingerprint, keygen
from tfstudio.errors import TransportError
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import Device

RELAY = """\
import socket, sys, threading
host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
open(log, "a").write(f"relay {host} {port}\\n")
conn = socket.create_connection((host, port))
def pump():
    while True:
        data = conn.recv(65536)
        if not data:
            break
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
threading.Thread(target=pump, daemon=True).start()
while True:
    data = sys.stdin.buffer.read1(65536)
    if not data:
        break
    conn.sendall(data)
"""


@dataclass
class Setup:
    target: SshdServer
    j1: SshdServer
    j2: SshdServer
    good: Path
    bad: Path
    known: Path
    workdir: Path
    user: str
    other_user: str
    client: Path


@pytest.fixture(scope="module")
def setup(
    sshd: SshdFactory, users: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("sshconfig-e2e")
    tmp.chmod(0o755)
    good, bad = keygen(tmp / "good"), keygen(tmp / "bad")
    for key in (good, bad):
        key.chmod(0o600)
    # sshd reads it as the device user: it must live where that user can read it.
    only_good = sshd.root / f"authorized_good_{len(sshd.servers)}"
    only_good.write_text(good.with_suffix(".pub").read_text())
    only_good.chmod(0o644)
    n = len(sshd.servers)
    target = sshd.start(
        f"cfgt{n}", extra_config=f"LogLevel VERBOSE\nAuthorizedKeysFile {only_good}"
    )
    j1 = sshd.start(f"cfgj1{n}", extra_config="LogLevel DEBUG1")
    j2 = sshd.start(f"cfgj2{n}", extra_config="LogLevel DEBUG1")
    known = tmp / "known_hosts"
    known.write_text("".join(f"[127.0.0.1]:{s.port} {s.host_pub_line}\n" for s in (target, j1, j2)))
    try:
        yield Setup(target, j1, j2, good, bad, known, tmp, users[0], users[1], sshd.client_key)
    finally:
        for server in (target, j1, j2):
            server.stop()


def _config(setup: Setup, tmp_path: Path, body: str) -> Path:
    config = tmp_path / "ssh_config"
    text = (
        body.format(
            t=setup.target.port, j1=setup.j1.port, j2=setup.j2.port, good=setup.good,
            bad=setup.bad, user=setup.user, other=setup.other_user, client=setup.client,
            dir=tmp_path,
        )
        + f"\nHost *\n  UserKnownHostsFile {setup.known}\n  GlobalKnownHostsFile /dev/null\n"
    )  # fmt: skip
    config.write_text(text)
    return config


def _ssh(
    alias: str, config: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", alias, "id", "-un"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def _tfstudio(alias: str, config: Path, user: str | None = None) -> str:
    device = Device(name="cfgcase", host=alias, user=user, ssh_config=str(config))
    with open_transport(device) as transport:
        return transport.run(["id", "-un"]).stdout.strip()


def _log_since(server: SshdServer, offset: int) -> str:
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = server.log.read_bytes()[offset:].decode("utf-8", "replace")
        if "Accepted" in text or "direct" in text:
            break
        time.sleep(0.05)
    return text


def _mark(*servers: SshdServer) -> list[int]:
    return [s.log.stat().st_size if s.log.exists() else 0 for s in servers]


@pytest.fixture
def agent(setup: Setup, tmp_path: Path) -> Iterator[str]:
    """An ssh-agent holding the key the target accepts; yields its socket."""
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        subprocess.run(["ssh-add", str(setup.good)], env={**os.environ, "SSH_AUTH_SOCK": sock},
                       check=True, capture_output=True)  # fmt: skip
        yield sock
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_identities_only_keeps_agent_keys_out(setup: Setup, agent: str, tmp_path: Path) -> None:
    body = (
        "Host t-only\n  HostName 127.0.0.1\n  Port {t}\n  User {user}\n"
        "  IdentityFile {bad}\n  IdentitiesOnly yes\n  IdentityAgent " + agent + "\n"
    )
    config = _config(setup, tmp_path, body)
    assert _ssh("t-only", config).returncode != 0  # the oracle refuses to use the agent key
    with pytest.raises(TransportError, match="authentication failed.*IdentitiesOnly"):
        _tfstudio("t-only", config)
    # Without IdentitiesOnly both log in with the agent's key, and the server says which.
    config = _config(setup, tmp_path, body.replace("  IdentitiesOnly yes\n", ""))
    oracle = _ssh("t-only", config)
    assert oracle.stdout.strip() == setup.user, oracle.stderr
    [mark] = _mark(setup.target)
    assert _tfstudio("t-only", config) == setup.user
    accepted = _log_since(setup.target, mark)
    assert f"Accepted publickey for {setup.user}" in accepted
    assert fingerprint(setup.good.with_suffix(".pub")) in accepted


def test_identity_files_in_order_and_a_missing_one_skipped(setup: Setup, tmp_path: Path) -> None:
    config = _config(
        setup,
        tmp_path,
        "Host t-files\n  HostName 127.0.0.1\n  Port {t}\n  User {user}\n"
        "  IdentityAgent none\n  IdentityFile {dir}/no-such-key\n  IdentityFile {bad}\n"
        "  IdentityFile ~/.ssh/also-missing-%h\n  IdentityFile {good}\n",
    )
    assert _ssh("t-files", config).stdout.strip() == setup.user
    [mark] = _mark(setup.target)
    assert _tfstudio("t-files", config) == setup.user
    assert fingerprint(setup.good.with_suffix(".pub")) in _log_since(setup.target, mark)


def test_a_jump_chain_goes_through_each_hop_in_order(setup: Setup, tmp_path: Path) -> None:
    """`ProxyJump j1,j2`, where j2 has a ProxyJump of its own (to a closed port): ssh
    reaches j2 through j1 and ignores j2's own, and so must tfstudio."""
    config = _config(
        setup,
        tmp_path,
        "Host j1\n  HostName 127.0.0.1\n  Port {j1}\n  User {user}\n  IdentityFile {client}\n"
        "Host j2\n  HostName 127.0.0.1\n  Port {j2}\n  User {user}\n  IdentityFile {client}\n"
        "  ProxyJump nowhere\n"
        "Host nowhere\n  HostName 127.0.0.1\n  Port 1\n"
        "Host t-chain\n  HostName 127.0.0.1\n  Port {t}\n  User {user}\n  IdentityFile {good}\n"
        "  ProxyJump j1,j2\n",
    )
    assert _ssh("t-chain", config).stdout.strip() == setup.user
    marks = _mark(setup.j1, setup.j2)
    assert _tfstudio("t-chain", config) == setup.user
    j1_log, j2_log = _log_since(setup.j1, marks[0]), _log_since(setup.j2, marks[1])
    assert re.search(
        rf"direct_tcpip: originator .*target 127\.0\.0\.1 port {setup.j2.port}\b", j1_log
    ), j1_log
    assert re.search(
        rf"direct_tcpip: originator .*target 127\.0\.0\.1 port {setup.target.port}\b", j2_log
    )


def test_a_jump_uri_logs_in_as_its_user(setup: Setup, tmp_path: Path) -> None:
    config = _config(
        setup,
        tmp_path,
        "Host 127.0.0.1\n  IdentityFile {client}\n"
        "Host t-uri\n  HostName 127.0.0.1\n  Port {t}\n  User {user}\n  IdentityFile {good}\n"
        "  ProxyJump ssh://{other}@127.0.0.1:{j1}\n",
    )
    assert _ssh("t-uri", config).stdout.strip() == setup.user
    [mark] = _mark(setup.j1)
    assert _tfstudio("t-uri", config) == setup.user
    assert f"Accepted publickey for {setup.other_user} " in _log_since(setup.j1, mark)


def test_include_and_match_user_set_the_port(setup: Setup, tmp_path: Path) -> None:
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "10-target.conf").write_text(
        f"Host t-inc\n  HostName 127.0.0.1\n  IdentityFile {setup.good}\n"
        f"Match user {setup.user}\n  Port {setup.target.port}\n"
    )
    config = _config(setup, tmp_path, "Include {dir}/conf.d/*.conf\n")
    oracle = subprocess.run(
        ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-l", setup.user, "t-inc", "id -un"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert oracle.stdout.strip() == setup.user
    assert _tfstudio("t-inc", config, user=setup.user) == setup.user


def test_proxycommand_carries_the_connection(setup: Setup, tmp_path: Path) -> None:
    relay, log = tmp_path / "relay.py", tmp_path / "relay.log"
    relay.write_text(RELAY)
    config = _config(
        setup,
        tmp_path,
        "Host t-proxy\n  HostName 127.0.0.1\n  Port {t}\n  User {user}\n  IdentityFile {good}\n"
        f"  ProxyCommand {sys.executable} {relay} %h %p {log} # the relay\n",
    )
    assert _ssh("t-proxy", config).stdout.strip() == setup.user
    log.unlink()
    assert _tfstudio("t-proxy", config) == setup.user
    assert log.read_text() == f"relay 127.0.0.1 {setup.target.port}\n"
