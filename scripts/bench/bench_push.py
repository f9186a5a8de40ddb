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
import statistics
import subprocess
import time
from pathlib import Path

from _lab import SshdFactory, trust

from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.push import push
from tfstudio.fleet.registry import Device


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
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
        ours, theirs = [], []
        for i in range(args.rounds):
            started = time.perf_counter()
            subprocess.run(scp_cmd, check=True)
            theirs.append(time.perf_counter() - started)
            started = time.perf_counter()
            with open_transport(device) as transport:
                result = push(transport, src, str(dest), f"round{i}")
            ours.append(time.perf_counter() - started)
            assert result.bytes_sent == src.stat().st_size
            for leftover in dest.iterdir():
                leftover.unlink()
            print(f"round {i + 1}: scp {theirs[-1]:.2f} s, tfstudio push {ours[-1]:.2f} s")
        scp_s, push_s = statistics.median(theirs), statistics.median(ours)
        mb = args.mb
        print(f"scp           median {scp_s:.2f} s ({mb / scp_s:.0f} MB/s)")
        print(f"tfstudio push median {push_s:.2f} s ({mb / push_s:.0f} MB/s)")
        print(f"ratio (scp time / push time): {scp_s / push_s:.2f}x  (goal >= 0.90x)")
    finally:
        factory.close()


if __name__ == "__main__":
    main()
