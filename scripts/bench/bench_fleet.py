"""Fleet fan-out: deploy + bench to 1, 4 and 16 loopback sshd devices, timed.

Every device is its own sshd process with its own agent home (device venv
Python). Each size deploys to devices that have never seen the model, with a
short health-gate bench. Prints a table and the 16-to-1 wall-time ratio (goal
<= 2.5x). All devices share this machine's cores, unlike a real fleet, so the
device-side work (agent start-up, validation, bench) does not run in parallel
beyond the core count; the script prints how busy the machine's CPUs were
(all processes, so other load on the machine shows too), the studio's own
CPU time, and the device side's CPU per deploy (goal <= 0.2 CPU-s):
- agent: every agent process and its children (the runtime child), measured
  by running the device's Python through `/usr/bin/time` (a wrapper script);
- with sshd: that plus the sshd processes serving the connections (the sshd
  listeners are moved into a cpuacct cgroup of their own, which counts every
  process they start; n/a where cgroup v1's cpuacct is not mounted).
The sizes run in rounds (--rounds); medians are printed.

    .venv/bin/python scripts/bench/bench_fleet.py [--sizes 1,4,16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from _lab import SshdFactory, make_mlp, trust
from paired import pick, report_value

from tfstudio.deploy.options import DeployOptions
from tfstudio.deploy.run import deploy_many
from tfstudio.fleet import registry
from tfstudio.fleet.agent_install import install_agent
from tfstudio.fleet.connect import open_transport
from tfstudio.measure.bench import BenchSettings
from tfstudio.models.facts import inspect_model

VENV_PYTHON = os.environ.get("TFSTUDIO_DEVICE_PYTHON", "/opt/tfstudio-test/venvs/device/bin/python")


def cpu_busy_s() -> float:
    """Returns this machine's busy CPU seconds so far (all cores, all processes)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


class DeviceCpu:
    """A cpuacct cgroup holding the sshd listeners: the CPU of every process they start."""

    def __init__(self, pids: list[int]) -> None:
        self.group: Path | None = CPUACCT / f"tfstudio-bench-{os.getpid()}"
        try:
            self.group.mkdir()
            for pid in pids:
                (self.group / "cgroup.procs").write_text(str(pid))
        except OSError:
            self.group = None

    def seconds(self) -> float:
        """CPU seconds used so far (nan without the cgroup)."""
        if self.group is None:
            return float("nan")
        return int((self.group / "cpuacct.usage").read_text()) / 1e9

    def close(self) -> None:
        """Removes the cgroup once its processes are gone."""
        if self.group is not None:
            for _ in range(50):
                try:
                    self.group.rmdir()
                    return
                except OSError:
                    time.sleep(0.1)


def timed_python(directory: Path) -> tuple[Path, Path]:
    """Returns (a device Python wrapper that logs each run's CPU, the log it appends to)."""
    log = directory / "agent-cpu.log"
    log.touch()
    log.chmod(0o666)
    wrapper = directory / "python-timed"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/time -a -o {log} -f "%U %S" {VENV_PYTHON} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, log


def logged_cpu_s(log: Path) -> float:
    """Returns the CPU seconds logged by the wrapper so far (user + system, every run)."""
    total = 0.0
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and all(p.replace(".", "").isdigit() for p in parts):
            total += float(parts[0]) + float(parts[1])
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default=pick("1,4,16", "1,4"))
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=pick(3, 1))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    factory = SshdFactory("tfbf")
    scratch = Path(tempfile.mkdtemp(prefix="tfbf-"))
    scratch.chmod(0o755)
    try:
        # A device user with /bin/sh (root's .bashrc here runs pyenv init per exec).
        user = factory.make_user("fleet")
        servers = [factory.start(f"d{i}") for i in range(max(sizes))]
        for server in servers:
            trust(server)
        device_cpu_meter = DeviceCpu([s.proc.pid for s in servers if s.proc is not None])
        python, log = timed_python(scratch)
        model = make_mlp(factory.root / "mlp.tflite", hidden=32)
        facts = inspect_model(model)
        options = DeployOptions(
            bench=True,
            workers=args.workers,
            bench_settings=BenchSettings(runs=50, warmup=5, min_seconds=0, warmup_min_seconds=0),
        )
        rows: dict[int, list[tuple[float, ...]]] = {size: [] for size in sizes}
        for round_ in range(args.rounds):
            for size in sizes:
                devices = []
                for i in range(size):
                    device = registry.add_device(
                        registry.Device(
                            name=f"r{round_}n{size}-d{i}",
                            host="127.0.0.1",
                            port=servers[i].port,
                            user=user,
                            key=str(factory.client_key),
                            python=str(python),
                            agent_home=f"agents/r{round_}n{size}-d{i}",
                        )
                    )
                    with open_transport(device) as transport:
                        install_agent(device, transport)
                    devices.append(device)
                time.sleep(1.0)  # the agent installs' sshd sessions are reaped
                agent_before, sshd_before = logged_cpu_s(log), device_cpu_meter.seconds()
                started, cpu_started = time.perf_counter(), time.process_time()
                busy_started = cpu_busy_s()
                results = deploy_many(model, facts, devices, options)
                wall = time.perf_counter() - started
                studio_cpu = time.process_time() - cpu_started
                util = (cpu_busy_s() - busy_started) / (wall * (os.cpu_count() or 1))
                time.sleep(1.0)  # the deploys' sshd sessions end and are reaped
                agent_cpu = (logged_cpu_s(log) - agent_before) / size
                device_cpu = (device_cpu_meter.seconds() - sshd_before) / size
                ok = sum(r.ok for r in results)
                slowest = max(r.duration_s for r in results)
                p99 = max((r.bench or {}).get("p99_ms", 0) for r in results)
                row = (wall, ok, slowest, p99, studio_cpu, util, agent_cpu, device_cpu)
                rows[size].append(row)
                print(f"round {round_ + 1}: {size:>3} devices: {wall:6.2f} s wall, {ok}/{size} ok, "
                      f"agent {agent_cpu:.3f} CPU-s per deploy")  # fmt: skip
        print()
        print("devices  wall_s  ok  slowest_s  studio_cpu_s  machine_busy  worst_p99_ms  "
              "agent_cpu_s/deploy  with_sshd_cpu_s/deploy   (medians)")  # fmt: skip
        medians = {}
        for size, runs in rows.items():
            m = [statistics.median(col) for col in zip(*runs)]
            medians[size] = m
            wall, ok, slowest, p99, cpu, util, agent_cpu, device_cpu = m
            print(
                f"{size:>7}  {wall:6.2f}  {ok:>2.0f}  {slowest:9.2f}  {cpu:12.2f}  "
                f"{util * 100:11.0f}%  {p99:12.4f}  {agent_cpu:18.3f}  {device_cpu:22.3f}"
            )
        if 1 in medians and len(medians) > 1:
            top = max(medians)
            ratio = medians[top][0] / medians[1][0]
            print(
                f"\nratio {top}-device / 1-device wall time: {ratio:.2f}x "
                f"(goal <= 2.5x at 16; {os.cpu_count()} CPU cores shared by all devices and the "
                "studio)"
            )
            report_value("fleet", f"deploy + bench to {top} devices, wall time", "1 device",
                         "<= 2.5x" if top == 16 else "none (goal at 16)", f"{ratio:.2f}x",
                         ratio <= 2.5 if top == 16 else None)  # fmt: skip
        agent = statistics.median(r[6] for runs in rows.values() for r in runs)
        print(f"device-side CPU per deploy (agent and its runtime child): {agent:.3f} CPU-s "
              "(goal <= 0.2)")  # fmt: skip
        report_value("fleet", "device-side CPU per deploy", "none (absolute)", "<= 0.2 CPU-s",
                     f"{agent:.3f} CPU-s", agent <= 0.2)  # fmt: skip
    finally:
        factory.close()
        if "device_cpu_meter" in locals():
            device_cpu_meter.close()
        for leftover in scratch.iterdir():
            leftover.unlink()
        scratch.rmdir()


if __name__ == "__main__":
    main()
