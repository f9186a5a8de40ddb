"""Whole deploy of a 200 MB model, push to active, vs OpenSSH `scp` of the same file.

One loopback sshd device (the device venv's Python, a device user with
/bin/sh). Each round runs, alternately so that machine load hits both alike:
`scp` of the model into the device user's home, then `deploy_one` (connect,
agent session, lock, info, upload hashed as it arrives, install: verify the
recorded digest, validate in the runtime child, store by link, activate) into
a fresh agent home, so the model is never already there. Prints each round,
the medians, the ratio deploy / scp (goal <= 1.2x), and where the deploy's
time went (from its events). The studio's own sha256 of the model (done once
before a deploy, by `inspect`) is timed separately.

    .venv/bin/python scripts/bench/bench_deploy_big.py [--mb 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

from _lab import SshdFactory, make_big_mlp, trust

from tfstudio.deploy.options import DeployOptions
from tfstudio.deploy.run import deploy_one
from tfstudio.fleet import registry
from tfstudio.fleet.agent_install import install_agent
from tfstudio.fleet.connect import open_transport
from tfstudio.models.facts import inspect_model
from tfstudio.operations import Event, StageStarted

VENV_PYTHON = os.environ.get("TFSTUDIO_DEVICE_PYTHON", "/opt/tfstudio-test/venvs/device/bin/python")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    model = make_big_mlp(args.mb)
    started = time.perf_counter()
    facts = inspect_model(model)
    inspect_s = time.perf_counter() - started
    factory = SshdFactory("tfbd")
    try:
        server = factory.start("big")
        trust(server)
        user = factory.make_user("big")
        scp_cmd = [
            "scp", "-q", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-i", str(factory.client_key), "-P", str(server.port),
            str(model), f"{user}@127.0.0.1:scp.bin",
        ]  # fmt: skip
        ours: list[float] = []
        theirs: list[float] = []
        stages: dict[str, list[float]] = {}
        for i in range(args.rounds):
            device = registry.add_device(
                registry.Device(
                    name=f"big{i}",
                    host="127.0.0.1",
                    port=server.port,
                    user=user,
                    key=str(factory.client_key),
                    python=VENV_PYTHON,
                    agent_home=f"agents/big{i}",
                )
            )
            with open_transport(device) as transport:
                install_agent(device, transport)
            started = time.perf_counter()
            subprocess.run(scp_cmd, check=True)
            theirs.append(time.perf_counter() - started)
            marks: list[tuple[str, float]] = []

            def on_event(event: Event, marks: list[tuple[str, float]] = marks) -> None:
                if isinstance(event, StageStarted) and (not marks or marks[-1][0] != event.stage):
                    marks.append((event.stage.value, time.perf_counter()))

            started = time.perf_counter()
            result = deploy_one(model, facts, device, DeployOptions(), on_event=on_event)
            ours.append(time.perf_counter() - started)
            assert result.ok, result.message
            points = [("start", started), *marks]
            for (stage, at), (_, until) in zip(points, points[1:]):
                stages.setdefault(stage, []).append(until - at)
            with open_transport(device) as transport:  # the next round starts clean
                transport.run(["rm", "-rf", device.agent_home, "scp.bin"])
            print(f"round {i + 1}: scp {theirs[-1]:.2f} s, deploy {ours[-1]:.2f} s")
        scp_s, deploy_s = statistics.median(theirs), statistics.median(ours)
        mb = facts.size_bytes / 1e6
        print(f"model: {facts.size_bytes} bytes; the studio's sha256 of it (inspect): "
              f"{inspect_s:.2f} s, once per deploy command")  # fmt: skip
        print(f"scp            median {scp_s:.2f} s ({mb / scp_s:.0f} MB/s)")
        print(f"deploy_one     median {deploy_s:.2f} s ({mb / deploy_s:.0f} MB/s)")
        print("deploy stages (median s): " + ", ".join(
            f"{k} {statistics.median(v):.3f}" for k, v in stages.items()))  # fmt: skip
        print(f"ratio (deploy time / scp time): {deploy_s / scp_s:.2f}x  (goal <= 1.2x)")
    finally:
        factory.close()


if __name__ == "__main__":
    main()
