"""Fixtures for the fleet tests: real sshd servers, device users and a `Lab` to wire them.

The sshd servers and the device users live for the whole session (starting
them is the expensive part); every test gets its own TFSTUDIO_HOME (so its own
registry and known_hosts) and every device it adds gets its own agent home, so
tests never see each other's models.
"""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from tests.helpers.digits import Digits, build_digits
from tests.helpers.sshd import SSHD, SshdFactory, SshdServer
from tfstudio.fleet import registry
from tfstudio.fleet.agent_install import install_agent
from tfstudio.fleet.agentcall import AgentClient
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import Device
from tfstudio.transport import hostkeys

SERVERS = 7
"""Enough for the fan-out test: 7 live devices plus one closed port."""

_counter = itertools.count()


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshdFactory]:
    if not Path(SSHD).exists():
        pytest.fail(f"{SSHD} is missing: apt-get install openssh-server (.ci/run does)")
    if os.geteuid() != 0:
        pytest.fail("the fleet tests run as root: they start sshd and create device users")
    factory = SshdFactory()
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def servers(sshd: SshdFactory) -> list[SshdServer]:
    return [sshd.start(f"dev{i}") for i in range(SERVERS)]


@pytest.fixture(scope="session")
def users(sshd: SshdFactory) -> list[str]:
    return [sshd.make_user("a"), sshd.make_user("b")]


def server_key(server: SshdServer) -> paramiko.PKey:
    """The server's public host key as a paramiko key."""
    key_type, data = server.host_pub_line.split()
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(data))


@dataclass
class Lab:
    """Adds devices (registry + trust + agent) on the session's servers."""

    sshd: SshdFactory
    servers: list[SshdServer]
    users: list[str]
    venvs: dict[str, Path]

    def add(
        self,
        name: str,
        *,
        server: int | SshdServer = 0,
        user: int = 0,
        python: str = "device",
        agent_home: str | None = None,
        trust: bool = True,
        install: bool = True,
    ) -> Device:
        srv = self.servers[server] if isinstance(server, int) else server
        home = agent_home or f"agents/{name}-{os.getpid()}-{next(_counter)}"
        device = registry.add_device(
            Device(
                name=name,
                host="127.0.0.1",
                port=srv.port,
                user=self.users[user],
                key=str(self.sshd.client_key),
                python=str(self.venvs.get(python, python)),
                agent_home=home,
            )
        )
        if trust:
            hostkeys.record("127.0.0.1", srv.port, server_key(srv))
        if install:
            with open_transport(device) as transport:
                install_agent(device, transport)
            device = registry.get_device(name)
        return device


def cold_python(sshd: SshdFactory, python: Path) -> Path:
    """A device Python whose agent starts every runtime child cold (no warm runtime): for
    tests that catch a validation by its child's command line."""
    wrapper = sshd.root / "python-cold"
    if not wrapper.exists():
        wrapper.write_text(f'#!/bin/sh\nTFSTUDIO_AGENT_WARM=0 exec {python} "$@"\n')
        wrapper.chmod(0o755)
    return wrapper


@pytest.fixture
def lab(
    sshd: SshdFactory, servers: list[SshdServer], users: list[str], device_venvs: dict[str, Path]
) -> Lab:
    venvs = dict(device_venvs)
    venvs["device-cold"] = cold_python(sshd, device_venvs["device"])
    return Lab(sshd, servers, users, venvs)


@pytest.fixture(scope="session")
def big_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~4 MB float32 MLP, big enough for a push to span several 1 MiB blocks."""
    from tests.helpers.models import float_mlp

    return float_mlp(tmp_path_factory.mktemp("big-model") / "mlp.big.tflite", [1024, 1024], 1)


FAST_BENCH = ["--runs", "5", "--warmup", "1", "--min-seconds", "0", "--warmup-min-seconds", "0"]
"""CLI bench options that keep a bench well under a second."""


def listing(device: Device) -> dict:
    """The agent's `list` answer on `device`, over a fresh connection."""
    with open_transport(device) as transport:
        return AgentClient(device, transport).call("list")


@pytest.fixture
def studio_config(studio_home: Path) -> Callable[[str], Path]:
    """Writes tfstudio.toml into this test's TFSTUDIO_HOME (small timeouts keep tests fast)."""

    def write(text: str) -> Path:
        path = studio_home / "tfstudio.toml"
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Digits:
    """A trained digits MLP in four TFLite modes, with its 450-sample eval data."""
    return build_digits(tmp_path_factory.mktemp("digits"))
