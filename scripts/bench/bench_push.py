"""Push throughput: tfstudio's push vs OpenSSH scp, a 200 MB file to a loopback sshd.

Runs both alternately (so machine load hits both alike), several rounds, and
prints the median times and the ratio scp_time / push_time (goal >= 0.9).
Both timings include connecting and authenticating. The push writes through
the device's Python writer and fsyncs; scp does not fsync.

    .venv/bin/python scripts/bench/bench_push.py [--mb 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from _lab import SshdFactory, trust
from paired import load, paired_rounds, pick, report, rounds, wall

from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.push import push
from tfstudio.fleet.registry import Device


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=pick(200, 50))
    parser.add_argument("--rounds", type=int, default=rounds(7, 3))
    args = parser.parse_args()
    factory = SshdFactory("tfbp")
    try:
        server = factory.start("push")
        trust(server)
        # A device user with /bin/sh: root's .bashrc here runs pyenv init on every
        # exec (a quarter second), which no device has and which scp never pays.
        user = factory.make_user("push")
        work = factory.root / "data"
        work.mkdir()
        work.chmod(0o755)
        src = work / "model.bin"
        with open(src, "wb") as handle:
            for _ in range(args.mb):
                handle.write(os.urandom(1 << 20))
        dest = Path("/home") / user / "push"
        dest.mkdir()
        shutil.chown(dest, user, user)
        device = Device(
            name="bench",
            host="127.0.0.1",
            port=server.port,
            user=user,
            key=str(factory.client_key),
            python="/usr/bin/python3",
            agent_home=str(dest),
        )
        scp_cmd = [
            "scp", "-q", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-i", str(factory.client_key), "-P", str(server.port),
            str(src), f"{user}@127.0.0.1:{dest}/scp.bin",
        ]  # fmt: skip

        def one_push() -> float:
            started = time.perf_counter()
            with open_transport(device) as transport:
                result = push(transport, src, str(dest), "round")
            elapsed = time.perf_counter() - started
            assert result.bytes_sent == src.stat().st_size
            return elapsed

        def clean() -> None:
            for leftover in dest.iterdir():
                leftover.unlink()

        print(f"push (in process, a stage of deploy) vs scp, {args.mb} MB ({load()})")
        paired = paired_rounds(
            one_push,
            lambda: wall(scp_cmd),
            args.rounds,
            names=("tfstudio push", "scp"),
            between=clean,
        )
        report("push", f"push {args.mb} MB (in process, a stage)", "scp", round(1 / 0.9, 2),
               paired, note="goal scp/push >= 0.9; the command is deploy_big")  # fmt: skip
    finally:
        factory.close()


if __name__ == "__main__":
    main()
