"""Fleet fan-out: deploy + bench to 1, 4 and 16 loopback sshd devices, timed.

Every device is its own sshd process with its own agent home (device venv
Python). Each size deploys to devices that have never seen the model, with a
short health-gate bench. Prints a table and the 16-to-1 wall-time ratio (goal
<= 2x). All devices share this machine's cores, unlike a real fleet, so the
device-side work (agent start-up, validation, bench) does not run in parallel
beyond the core count; the script prints how busy the machine's CPUs were
(all processes, so other load on the machine shows too) and the studio's own
CPU time, to tell a saturated machine from a slow fan-out.

    .venv/bin/python scripts/bench/bench_fleet.py [--sizes 1,4,16]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _lab import SshdFactory, make_mlp, trust

from tfstudio.fleet import registry
from tfstudio.fleet.agent_install import install_agent
from tfstudio.fleet.bench import BenchSettings
from tfstudio.fleet.connect import open_transport
from tfstudio.fleet.deploy import DeployOptions, deploy_many
from tfstudio.modelinfo import inspect_model

VENV_PYTHON = os.environ.get("TFSTUDIO_DEVICE_PYTHON", "/opt/tfstudio-test/venvs/device/bin/python")


def cpu_busy_s() -> float:
    """Returns this machine's busy CPU seconds so far (all cores, all processes)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,4,16")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    factory = SshdFactory("tfbf")
    try:
        # A device user with /bin/sh (root's .bashrc here runs pyenv init per exec).
        user = factory.make_user("fleet")
        servers = [factory.start(f"d{i}") for i in range(max(sizes))]
        for server in servers:
            trust(server)
        model = make_mlp(factory.root / "mlp.tflite", hidden=32)
        facts = inspect_model(model)
        options = DeployOptions(
            bench=True,
            workers=args.workers,
            bench_settings=BenchSettings(runs=50, warmup=5, min_seconds=0, warmup_min_seconds=0),
        )
        rows = []
        for size in sizes:
            devices = []
            for i in range(size):
                device = registry.add_device(
                    registry.Device(
                        name=f"n{size}-d{i}",
                        host="127.0.0.1",
                        port=servers[i].port,
                        user=user,
                        key=str(factory.client_key),
                        python=VENV_PYTHON,
                        agent_home=f"agents/n{size}-d{i}",
                    )
                )
                with open_transport(device) as transport:
                    install_agent(device, transport)
                devices.append(device)
            started, cpu_started = time.perf_counter(), time.process_time()
            busy_started = cpu_busy_s()
            results = deploy_many(model, facts, devices, options)
            wall = time.perf_counter() - started
            studio_cpu = time.process_time() - cpu_started
            util = (cpu_busy_s() - busy_started) / (wall * (os.cpu_count() or 1))
            ok = sum(r.ok for r in results)
            slowest = max(r.duration_s for r in results)
            p99 = max((r.bench or {}).get("p99_ms", 0) for r in results)
            rows.append((size, wall, ok, slowest, p99, studio_cpu, util))
            print(f"{size:>3} devices: {wall:6.2f} s wall, {ok}/{size} ok")
        print()
        print("devices  wall_s  ok  slowest_device_s  studio_cpu_s  machine_cpu_busy  worst_p99_ms")
        for size, wall, ok, slowest, p99, cpu, util in rows:
            print(
                f"{size:>7}  {wall:6.2f}  {ok:>2}  {slowest:16.2f}  {cpu:12.2f}  "
                f"{util * 100:15.0f}%  {p99:12.4f}"
            )
        by_size = {r[0]: r[1] for r in rows}
        if 1 in by_size and 16 in by_size:
            print(
                f"\nratio 16-device / 1-device wall time: {by_size[16] / by_size[1]:.2f}x "
                f"(goal <= 2x; {os.cpu_count()} CPU cores shared by all devices and the studio)"
            )
    finally:
        factory.close()


if __name__ == "__main__":
    main()
