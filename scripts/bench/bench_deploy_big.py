"""Cold `tfstudio deploy` of a big model vs OpenSSH `scp` of the same file, both whole processes.

One loopback sshd device (the device venv's Python, a device user with /bin/sh),
registered and its agent installed once. Each paired round (`paired.py`,
alternating order) runs `scp` of the model into the device user's home and
`tfstudio deploy MODEL --to DEVICE` as a fresh process, as a user types it
(Python start-up, imports, the model's facts and digest, connect, agent
session, upload hashed as it arrives, verify, validate in the runtime child,
store, activate), into a fresh agent home, so the model is never already
there; between two runs the page cache is synced, so neither side pays for
the other's writeback (scp does not fsync; the deploy does). Goals: <= 1.35x
at 100 MB, <= 1.25x at 200 MB (quick mode: 100 MB only). Below the headline,
where one in-process deploy's time goes (its events).

    .venv/bin/python scripts/bench/bench_deploy_big.py [--mb 100,200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _lab import REPO, SshdFactory, make_big_mlp, trust
from paired import load, paired_rounds, pick, report, rounds, wall

from tfstudio.deploy.options import DeployOptions
from tfstudio.deploy.run import deploy_one
from tfstudio.fleet import registry
from tfstudio.fleet.agent_install import install_agent
from tfstudio.fleet.connect import open_transport
from tfstudio.models.facts import inspect_model
from tfstudio.operations import Event, StageStarted

GOALS = {100: 1.35, 200: 1.25}
VENV_PYTHON = os.environ.get("TFSTUDIO_DEVICE_PYTHON", "/opt/tfstudio-test/venvs/device/bin/python")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", default=pick("100,200", "100"))
    args = parser.parse_args()
    factory = SshdFactory("tfbd")
    try:
        server = factory.start("big")
        trust(server)
        user = factory.make_user("big")
        device = registry.add_device(
            registry.Device(
                name="big",
                host="127.0.0.1",
                port=server.port,
                user=user,
                key=str(factory.client_key),
                python=VENV_PYTHON,
                agent_home="agents/big",
            )
        )

        def fresh_agent() -> None:  # every deploy lands on a device that never saw the model
            with open_transport(device) as transport:
                transport.run(["rm", "-rf", device.agent_home, "scp.bin"])
                install_agent(device, transport)
            # scp leaves its 100 MB dirty in the page cache; without a sync the disk writes
            # it back during the next side's run, which a deploy (it fsyncs) would pay for.
            os.sync()

        for mb in (int(x) for x in args.mb.split(",")):
            model = make_big_mlp(mb)
            scp_cmd = [
                "scp", "-q", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-i", str(factory.client_key), "-P", str(server.port),
                str(model), f"{user}@127.0.0.1:scp.bin",
            ]  # fmt: skip
            exe = Path(sys.executable).with_name("tfstudio")
            deploy_cmd = [str(exe), "deploy", str(model), "--to", "big"]
            env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
            fresh_agent()
            wall(deploy_cmd, env)  # warm the page cache (and the digest record, as a 2nd deploy)
            fresh_agent()
            print(f"{mb} MB model ({model.stat().st_size} bytes), {load()}")
            paired = paired_rounds(
                lambda deploy_cmd=deploy_cmd, env=env: wall(deploy_cmd, env),
                lambda scp_cmd=scp_cmd: wall(scp_cmd),
                rounds(7, 3),
                names=("tfstudio deploy", "scp"),
                between=fresh_agent,
            )
            report(
                "deploy_big",
                f"tfstudio deploy {mb} MB",
                "scp",
                GOALS.get(mb),
                paired,
                note="digest record from an earlier deploy trusted",
            )
            breakdown(model, device, fresh_agent)
    finally:
        factory.close()


def breakdown(model: Path, device: registry.Device, fresh_agent: Callable[[], None]) -> None:
    """Prints where one in-process deploy's time goes (no Python start-up or imports)."""
    started = time.perf_counter()
    facts = inspect_model(model)
    inspect_s = time.perf_counter() - started
    marks: list[tuple[str, float]] = []

    def on_event(event: Event) -> None:
        if isinstance(event, StageStarted) and (not marks or marks[-1][0] != event.stage):
            marks.append((event.stage.value, time.perf_counter()))

    started = time.perf_counter()
    result = deploy_one(model, facts, device, DeployOptions(), on_event=on_event)
    total = time.perf_counter() - started
    assert result.ok, result.message
    points = [("start", started), *marks, ("end", started + total)]
    stages = {a[0]: b[1] - a[1] for a, b in zip(points, points[1:])}
    print(
        f"  breakdown (in process, one deploy): full sha256 of the model {inspect_s:.2f} s "
        f"(skipped while its digest record holds); deploy_one {total:.2f} s: "
        + ", ".join(f"{k} {v:.3f}" for k, v in stages.items())
    )
    fresh_agent()


if __name__ == "__main__":
    main()
