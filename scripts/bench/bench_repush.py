"""Unchanged re-push: deploying a model the device already serves sends nothing.

Deploys a model to a loopback sshd device, then deploys it again, and prints,
for each, the model bytes sent and the round trips: every remote command, file
transfer and metadata request the Transport made, and every request sent to
the agent's session (counted by wrappers that forward to the real SSH
transport and session channel), plus the handshake.

    .venv/bin/python scripts/bench/bench_repush.py
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _lab import SshdFactory, make_mlp, trust

from tfstudio.fleet import registry
from tfstudio.fleet.agent_install import install_agent
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.deploy import DeployOptions, deploy_one
from tfstudio.fleet.transport import CommandResult, RemoteProcess, Transport
from tfstudio.modelinfo import inspect_model

VENV_PYTHON = os.environ.get("TFSTUDIO_DEVICE_PYTHON", "/opt/tfstudio-test/venvs/device/bin/python")


def _label(argv: Sequence[str]) -> str:
    """`agent COMMAND` for an agent call (`... --home=H --json COMMAND ...`), else argv[0]."""
    words = list(argv)
    homes = [i for i, w in enumerate(words) if w.startswith("--home=")]
    return f"agent {words[homes[0] + 2]}" if homes else words[0]


class CountingProcess(RemoteProcess):
    """Forwards to a real remote process and counts the session requests written to it."""

    def __init__(self, inner: RemoteProcess, calls: Counter[str]) -> None:
        self.inner = inner
        self.calls = calls

    def read_line(
        self, timeout: float, cancel: threading.Event | None = None, label: str | None = None
    ) -> str:
        return self.inner.read_line(timeout, cancel, label)

    def stderr_text(self) -> str:
        return self.inner.stderr_text()

    def write(self, data: bytes) -> None:
        try:
            self.calls[f"session {json.loads(data)['op']}"] += 1
        except (ValueError, KeyError):
            pass
        self.inner.write(data)

    def send_file(self, local: Path, offset: int, length: int, progress: Any = None) -> None:
        self.inner.send_file(local, offset, length, progress)

    def exit_code(self, wait: float = 0.0) -> int | None:
        return self.inner.exit_code(wait)

    def close(self) -> None:
        self.inner.close()


class Counting(Transport):
    """Forwards to a real transport and counts each kind of request."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()

    @property  # type: ignore[override]
    def bytes_sent(self) -> int:
        return self.inner.bytes_sent

    def _count(self, what: str, value: Any) -> Any:
        self.calls[what] += 1
        return value

    def run(
        self,
        argv: Sequence[str],
        timeout: float | None = None,
        stdin: bytes | None = None,
        cancel: Any = None,
        label: str | None = None,
    ) -> CommandResult:
        self.calls[_label(argv)] += 1
        return self.inner.run(argv, timeout, stdin, cancel=cancel, label=label)

    def spawn(self, argv: Sequence[str]) -> RemoteProcess:
        self.calls[_label(argv)] += 1
        return CountingProcess(self.inner.spawn(argv), self.calls)

    def put(self, local: Path, remote: str, *, offset: int = 0, progress: Any = None) -> int:
        return self._count("put", self.inner.put(local, remote, offset=offset, progress=progress))

    def get(self, remote: str, local: Path) -> None:
        self._count("get", self.inner.get(remote, local))

    def stat_size(self, remote: str) -> int | None:
        return self._count("stat", self.inner.stat_size(remote))  # type: ignore[no-any-return]

    def sha256_prefix(self, remote: str, length: int) -> str:
        return self._count("hash", self.inner.sha256_prefix(remote, length))  # type: ignore[no-any-return]

    def makedirs(self, remote: str) -> None:
        self._count("mkdir", self.inner.makedirs(remote))

    def rename(self, src: str, dst: str) -> None:
        self._count("rename", self.inner.rename(src, dst))

    def remove(self, remote: str) -> None:
        self._count("remove", self.inner.remove(remote))

    def close(self) -> None:
        self.inner.close()


def main() -> None:
    factory = SshdFactory("tfbr")
    try:
        server = factory.start("repush")
        trust(server)
        user = factory.make_user("repush")
        device = registry.add_device(
            registry.Device(
                name="repush",
                host="127.0.0.1",
                port=server.port,
                user=user,
                key=str(factory.client_key),
                python=VENV_PYTHON,
            )
        )
        with open_transport(device) as transport:
            install_agent(device, transport)
        model = make_mlp(factory.root / "mlp.tflite", hidden=1024)
        facts = inspect_model(model)
        print(f"model: {facts.size_bytes} bytes, sha256 {facts.sha256[:12]}")
        for label in ("first deploy", "unchanged re-deploy"):
            opened: list[Counting] = []

            def connect(dev: registry.Device, opened: list[Counting] = opened) -> Transport:
                opened.append(Counting(open_transport(dev)))
                return opened[-1]

            result = deploy_one(model, facts, device, DeployOptions(), connect=connect)
            calls = opened[0].calls
            trips = sum(calls.values())
            detail = ", ".join(f"{k} x{v}" for k, v in sorted(calls.items()))
            print(
                f"{label}: {result.status.value}, {result.bytes_sent} model bytes sent, "
                f"{trips} requests after the handshake ({detail}; a session's lock and info "
                f"share one round trip), {result.duration_s:.2f} s"
            )
    finally:
        factory.close()


if __name__ == "__main__":
    main()
