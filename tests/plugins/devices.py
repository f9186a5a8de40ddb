"""Real sshd servers, device users and a `Lab` to wire them: one set per session.

The sshd servers and the device users live for the whole session (starting them is
the expensive part) and serve every area (fleet, UI, facade); every test gets its own
TFSTUDIO_HOME (so its own registry and known_hosts) and every device it adds gets
its own agent home, so tests never see each other's models.
"""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from tests.helpers.sshd import SSHD, SshdFactory, SshdServer
from tfstudio.fleet import registry
from tfstudio.fleet.agent_install import install_agent
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.registry import Device
from tfstudio.transport import hostkeys

SERVERS = 7
"""Enough for the fan-out test: 7 live devices plus one closed port."""

_counter = itertools.count()


def lab_sshd(prefix: str) -> Iterator[SshdFactory]:
    """The body of an `sshd` fixture whose device users' names start with `prefix`
    (a module that needs servers and users of its own takes another prefix)."""
    if not Path(SSHD).exists():
        pytest.fail(f"{SSHD} is missing: apt-get install openssh-server (.ci/run does)")
    if os.geteuid() != 0:
        pytest.fail("these tests run as root: they start sshd and create device users")
    factory = SshdFactory(prefix=prefix)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshdFactory]:
    yield from lab_sshd("tfsd")


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
    """Devices on the session's servers; python "device-cold" is the current device's
    Python with the agent's warm runtime off."""
    venvs = dict(device_venvs)
    venvs["device-cold"] = cold_python(sshd, device_venvs["device"])
    return Lab(sshd, servers, users, venvs)
