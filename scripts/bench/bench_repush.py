"""Unchanged re-push: deploying a model the device already serves sends nothing.

Deploys a model to a loopback sshd device, then deploys it again, and prints,
for each, the model bytes sent and the round trips: every remote command, file
transfer and metadata request the Transport made, and every request sent to
the agent's session (counted by wrappers that forward to the real SSH
transport and session channel), plus the handshake.

    .venv/bin/python scripts/bench/bench_repush.py
"""

from __future__ import annotations

import os

from _lab import SshdFactory, make_mlp, trust
from paired import report_value

from tests.helpers.counting import Counting
from tfstudio.deploy.options import DeployOptions
from tfstudio.deploy.run import deploy_one
from tfstudio.fleet import registry
from tfstudio.fleet.agent_install import install_agent
from tfstudio.fleet.connect import open_transport
from tfstudio.models.facts import inspect_model
from tfstudio.transport.base import Transport

VENV_PYTHON = os.environ.get("TFSTUDIO_DEVICE_PYTHON", "/opt/tfstudio-test/venvs/device/bin/python")


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
        report_value("repush", "unchanged re-deploy: model bytes sent", "the first deploy",
                     "0 bytes", f"{result.bytes_sent} bytes, {trips} requests",
                     result.bytes_sent == 0)  # fmt: skip
    finally:
        factory.close()


if __name__ == "__main__":
    main()
