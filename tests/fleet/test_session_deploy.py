"""A deploy is one agent process on the device (its session), and still works with the agent
of the previous release, which has no session mode (one-shot commands, as before).

The requests a deploy makes are counted by a Transport wrapper around the real
SSH connection: every remote command it starts and every file operation.
"""

from __future__ import annotations

import io
import pwd
import subprocess
import tarfile
import zipapp
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.fleet.conftest import Lab, listing
from tfstudio.fleet.agentcall import AgentClient
from tfstudio.fleet.bench import BenchSettings
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.deploy import DeployOptions, Status, deploy_one
from tfstudio.fleet.registry import Device
from tfstudio.fleet.transport import CommandResult, RemoteProcess, Transport
from tfstudio.modelinfo import inspect_model

PREVIOUS_AGENT = "ce96866963f436b36cf2ac6a6d1127d1828cc7f1"
"""The commit of agent 0.2.0 (issue 8's merge), the last release without the session mode."""

QUICK = BenchSettings(runs=5, warmup=1, min_seconds=0, warmup_min_seconds=0)


def _command(argv: Sequence[str]) -> str:
    """`agent COMMAND` for an agent call (`... --home=H --json COMMAND ...`), else argv[0]."""
    words = list(argv)
    homes = [i for i, w in enumerate(words) if w.startswith("--home=")]
    return f"agent {words[homes[0] + 2]}" if homes else Path(words[0]).name


class Counting(Transport):
    """Forwards to a real transport and counts the remote commands and file operations."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()

    @property  # type: ignore[override]
    def bytes_sent(self) -> int:
        return self.inner.bytes_sent

    def run(self, argv: Sequence[str], timeout: float | None = None, stdin: bytes | None = None,
            cancel: Any = None, label: str | None = None) -> CommandResult:  # fmt: skip
        self.calls[_command(argv)] += 1
        return self.inner.run(argv, timeout, stdin, cancel=cancel, label=label)

    def spawn(self, argv: Sequence[str]) -> RemoteProcess:
        self.calls[_command(argv)] += 1
        return self.inner.spawn(argv)

    def _file(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls[what] += 1
        return call(*args, **kwargs)

    def put(self, local: Path, remote: str, *, offset: int = 0, progress: Any = None) -> int:
        return self._file("put", self.inner.put, local, remote, offset=offset, progress=progress)  # type: ignore[no-any-return]

    def get(self, remote: str, local: Path) -> None:
        self._file("get", self.inner.get, remote, local)

    def stat_size(self, remote: str) -> int | None:
        return self._file("stat", self.inner.stat_size, remote)  # type: ignore[no-any-return]

    def sha256_prefix(self, remote: str, length: int) -> str:
        return self._file("hash", self.inner.sha256_prefix, remote, length)  # type: ignore[no-any-return]

    def makedirs(self, remote: str) -> None:
        self._file("mkdir", self.inner.makedirs, remote)

    def rename(self, src: str, dst: str) -> None:
        self._file("rename", self.inner.rename, src, dst)

    def remove(self, remote: str) -> None:
        self._file("remove", self.inner.remove, remote)

    def close(self) -> None:
        self.inner.close()


def _counted(opened: list[Counting]) -> Any:
    def connect(device: Device) -> Transport:
        opened.append(Counting(open_transport(device)))
        return opened[-1]

    return connect


def test_a_deploy_with_its_gate_is_one_agent_process(lab: Lab, big_model: Path) -> None:
    device = lab.add("onesession", server=0)
    facts = inspect_model(big_model)
    opened: list[Counting] = []
    options = DeployOptions(bench=True, bench_settings=QUICK, keep=1)
    result = deploy_one(big_model, facts, device, options, connect=_counted(opened))
    assert result.status is Status.OK, result.message
    assert result.bytes_sent == facts.size_bytes and result.bench is not None
    (transport,) = opened
    # Lock, info, upload (the bytes on the same channel), install, bench: one process.
    assert transport.calls == Counter({"agent session": 1}), transport.calls
    assert listing(device)["active"] == facts.sha256
    home = Path(pwd.getpwnam(device.user or "").pw_dir) / device.agent_home
    stored = home / "models" / facts.sha256 / "model.tflite"
    assert stored.stat().st_nlink == 1 and not list((home / "inbox").iterdir())


def _previous_agent_pyz(tmp: Path) -> Path:
    """The agent zipapp as released before the session mode, built from its commit."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", PREVIOUS_AGENT, "edge_agent"],
        capture_output=True,
    )
    if archive.returncode != 0:
        pytest.fail(
            f"this test builds agent 0.2.0 from commit {PREVIOUS_AGENT[:12]}, which this "
            f"checkout lacks (a shallow clone?): {archive.stderr.decode().strip()}"
        )
    staging = tmp / "agent-0.2.0"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(staging, filter="data")
    (staging / "__main__.py").write_text(
        "import sys\nfrom edge_agent.cli import main\nsys.exit(main())\n"
    )
    target = tmp / "tfstudio-agent-0.2.0.pyz"
    zipapp.create_archive(staging, target, interpreter="/usr/bin/env python3")
    return target


def test_an_agent_without_session_mode_still_deploys_with_one_shot_commands(
    lab: Lab, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    device = lab.add("oldrelease", server=1)
    home = Path(pwd.getpwnam(device.user or "").pw_dir) / device.agent_home
    (home / "tfstudio-agent.pyz").write_bytes(_previous_agent_pyz(tmp_path).read_bytes())
    good, slow = tiny_models["float32"], tiny_models["int8"]
    opened: list[Counting] = []
    first = deploy_one(good, inspect_model(good), device, DeployOptions(), connect=_counted(opened))
    assert first.status is Status.OK, first.message
    calls = opened[0].calls
    assert calls["agent session"] == 1, "the session mode was tried"
    assert calls["agent lock"] == 1 and calls["agent install"] == 1 and calls["put"] == 1
    # A failing gate still rolls back, through the old agent's commands.
    gated = DeployOptions(max_p99_ms=0.000001, bench_settings=QUICK)
    second = deploy_one(slow, inspect_model(slow), device, gated)
    assert second.status is Status.ROLLED_BACK, second.message
    assert listing(device)["active"] == inspect_model(good).sha256
    with open_transport(device) as transport:
        assert AgentClient(device, transport).call("version")["agent_version"] == "0.2.0"
