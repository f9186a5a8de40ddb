"""Fleet speed: `tfstudio deploy` to 1, 4, 16 and 32 devices, before and after the warm runtime.

The devices are several device users behind ONE loopback sshd (each user its own agent
home), labelled into groups so each size is a selector (`--to group:first16`). Every
measured deploy is a whole `tfstudio deploy MODEL --to group:firstN --bench --json`
process, run as a user would, with a model no device has yet (the same small MLP with a
different description string, so the same bytes to move and the same work to do), and
`--workers N` so all N devices go at once.

Before and after are paired: in each round, for each size, the same deploy runs once
with the agent's warm runtime off (`TFSTUDIO_AGENT_WARM=0`: a cold runtime child per
deploy, what agents before 0.6 did) and once on, in alternating order (ABBA), on the
same devices. A warm-up deploy in each arm precedes the rounds (in the warm arm it starts
each device's warm runtime: the first deploy to a device is a cold one either way).

Measured per deploy command:
- wall_s: the whole process, start to exit (CLI start-up included);
- fanout_s: the slowest device's own deploy time (from the JSON result);
- studio_cpu_s: the CLI process's CPU (user + system, from wait4);
- device CPU: every process the sshd started (sshd sessions, agents, warm runtimes and
  their forked children) is in a cpuacct cgroup; `agent` is the agents' own sub-cgroup
  (the device Python wrapper moves itself there), `with_sshd` the whole. Per deploy =
  the cgroup's CPU over the command divided by the device count;
- the machine: load average at the start, and how busy all CPUs were (other work too).

Prints one row per size and arm (medians over the rounds), the 16-to-1 and 32-to-1
ratios of wall and fan-out time, and the device CPU per deploy. Goals (issue 24): 16
devices <= 2.5x one device, <= 0.2 device CPU-s per small deploy.

    .venv/bin/python scripts/bench/bench_fleet_scale.py [--sizes 1,4,16,32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _lab import REPO, SshdFactory, make_mlp, trust

from tfstudio.fleet import registry
from tfstudio.fleet.agent_install import install_agent
from tfstudio.fleet.connect import open_transport

VENV_PYTHON = os.environ.get("TFSTUDIO_DEVICE_PYTHON", "/opt/tfstudio-test/venvs/device/bin/python")
CPUACCT = Path("/sys/fs/cgroup/cpuacct")
ARMS = ("cold", "warm")
BENCH = ["--bench", "--runs", "50", "--warmup", "5", "--min-seconds", "0",
         "--warmup-min-seconds", "0"]  # fmt: skip


def cpu_busy_s() -> float:
    """This machine's busy CPU seconds so far (all cores, all processes)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class DeviceCpu:
    """cpuacct cgroups: one holding the sshd (all it starts), and `agents` inside it."""

    def __init__(self, sshd_pid: int) -> None:
        self.group: Path | None = CPUACCT / f"tfstudio-scale-{os.getpid()}"
        try:
            self.group.mkdir()
            (self.group / "agents").mkdir()
            (self.group / "agents" / "cgroup.procs").chmod(0o666)
            (self.group / "cgroup.procs").write_text(str(sshd_pid))
        except OSError:
            self.group = None

    def seconds(self) -> tuple[float, float]:
        """(agents, everything) CPU seconds so far; nan without cgroups."""
        if self.group is None:
            return float("nan"), float("nan")
        agents = int((self.group / "agents" / "cpuacct.usage").read_text()) / 1e9
        return agents, int((self.group / "cpuacct.usage").read_text()) / 1e9

    def procs_file(self) -> str:
        return str(self.group / "agents" / "cgroup.procs") if self.group else "/dev/null"

    def close(self) -> None:
        for group in [self.group / "agents", self.group] if self.group else []:
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def wrapper(scratch: Path, arm_file: Path, procs: str) -> Path:
    """The device Python: joins the agents' cgroup, takes the arm's warm setting, runs."""
    path = scratch / "python-device"
    path.write_text(
        "#!/bin/sh\n"
        f"echo $$ > {procs} 2>/dev/null\n"
        f"TFSTUDIO_AGENT_WARM=$(cat {arm_file}) TFSTUDIO_AGENT_WARM_IDLE_S=3600 "
        f'exec {VENV_PYTHON} "$@"\n'
    )
    path.chmod(0o755)
    return path


def variants(base: Path, scratch: Path, count: int) -> list[Path]:
    """`count` copies of `base` that differ only in the model's description string."""
    data = base.read_bytes()
    marker = b"MLIR Converted."
    assert data.count(marker) == 1, "the converter's description string moved"
    out = []
    for i in range(count):
        path = scratch / f"mlp-{i:03d}.tflite"
        path.write_bytes(data.replace(marker, f"bench {i:09d}".encode()[: len(marker)]))
        out.append(path)
    return out


def deploy(model: Path, size: int, env: dict[str, str]) -> dict[str, float]:
    """Runs one whole `tfstudio deploy` and returns its figures."""
    argv = [sys.executable, "-m", "tfstudio", "deploy", str(model), "--to",
            f"group:first{size}", "--workers", str(size), *BENCH, "--json"]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=str(REPO))  # fmt: skip
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"deploy failed ({proc.returncode}): {err.decode()[-2000:]}")
    results = json.loads(out)
    assert len(results) == size and all(r["status"] == "ok" for r in results)
    return {"wall_s": wall, "fanout_s": max(r["duration_s"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,4,16,32")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    most = max(sizes)
    factory = SshdFactory("tfsc")
    scratch = Path(tempfile.mkdtemp(prefix="tfsc-"))
    scratch.chmod(0o755)
    meter: DeviceCpu | None = None
    try:
        server = factory.start("fleet")
        trust(server)
        assert server.proc is not None
        meter = DeviceCpu(server.proc.pid)
        arm_file = scratch / "arm"
        arm_file.write_text("0")
        arm_file.chmod(0o644)
        python = wrapper(scratch, arm_file, meter.procs_file())
        users = [factory.make_user(f"u{i}") for i in range(most)]
        for i, user in enumerate(users):
            groups = tuple(f"first{n}" for n in sizes if i < n)
            device = registry.add_device(
                registry.Device(
                    name=f"d{i:02d}", host="127.0.0.1", port=server.port, user=user,
                    key=str(factory.client_key), python=str(python), agent_home="agent",
                    groups=groups,
                )
            )  # fmt: skip
            with open_transport(device) as transport:
                install_agent(device, transport)
        base = make_mlp(factory.root / "mlp.tflite", hidden=32)
        models = iter(variants(base, scratch, 2 + args.rounds * len(sizes) * len(ARMS)))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        for arm in ARMS:  # warm-up: page cache, and in the warm arm each warm runtime
            arm_file.write_text("1" if arm == "warm" else "0")
            deploy(next(models), most, env)
        rows: dict[tuple[int, str], list[dict[str, float]]] = {}
        for round_ in range(args.rounds):
            for k, size in enumerate(sizes):
                order = ARMS if (round_ + k) % 2 == 0 else ARMS[::-1]
                for arm in order:
                    arm_file.write_text("1" if arm == "warm" else "0")
                    time.sleep(0.5)  # the last command's sessions are gone
                    load = os.getloadavg()[0]
                    agents0, total0 = meter.seconds()
                    busy0, t0 = cpu_busy_s(), time.perf_counter()
                    before = os.times()
                    figures = deploy(next(models), size, env)
                    after = os.times()
                    time.sleep(0.3)  # sessions and their children end
                    agents1, total1 = meter.seconds()
                    elapsed = time.perf_counter() - t0
                    figures.update(
                        studio_cpu_s=(after.children_user - before.children_user)
                        + (after.children_system - before.children_system),
                        agent_cpu_s=(agents1 - agents0) / size,
                        device_cpu_s=(total1 - total0) / size,
                        load=load,
                        busy=(cpu_busy_s() - busy0) / (elapsed * (os.cpu_count() or 1)),
                    )
                    rows.setdefault((size, arm), []).append(figures)
                    print(f"round {round_ + 1}: {size:>2} devices {arm:>4}: "
                          f"{figures['wall_s']:5.2f} s wall, {figures['fanout_s']:5.2f} s fan-out, "
                          f"device {figures['device_cpu_s']:.3f} CPU-s/deploy "
                          f"(agent {figures['agent_cpu_s']:.3f}), load {load:.1f}",
                          flush=True)  # fmt: skip
        report(rows, sizes)
    finally:
        factory.close()
        if meter is not None:
            meter.close()
        for leftover in scratch.iterdir():
            leftover.unlink()
        scratch.rmdir()


def report(rows: dict[tuple[int, str], list[dict[str, float]]], sizes: list[int]) -> None:
    keys = ["wall_s", "fanout_s", "studio_cpu_s", "agent_cpu_s", "device_cpu_s", "load", "busy"]
    med = {k: {f: statistics.median(r[f] for r in v) for f in keys} for k, v in rows.items()}
    head = ["devices", "arm", "wall_s", "fanout_s", "studio_cpu", "agent_cpu/dep",
            "device_cpu/dep", "load", "busy"]  # fmt: skip
    widths = [7, 4, 7, 8, 10, 13, 14, 5, 5]
    print("\n" + " ".join(f"{h:>{w}}" for h, w in zip(head, widths)) + "   (medians)")
    for size in sizes:
        for arm in ARMS:
            m = med[(size, arm)]
            print(f"{size:>7} {arm:>4} {m['wall_s']:7.2f} {m['fanout_s']:8.2f} "
                  f"{m['studio_cpu_s']:10.2f} {m['agent_cpu_s']:13.3f} {m['device_cpu_s']:14.3f} "
                  f"{m['load']:5.1f} {m['busy'] * 100:4.0f}%")  # fmt: skip
    print()
    for arm in ARMS:
        for n in (16, 32):
            if (1, arm) in med and (n, arm) in med:
                wall = med[(n, arm)]["wall_s"] / med[(1, arm)]["wall_s"]
                fan = med[(n, arm)]["fanout_s"] / med[(1, arm)]["fanout_s"]
                print(f"{arm:>4}: {n}-to-1 device ratio: {wall:.2f}x wall, {fan:.2f}x fan-out "
                      f"(goal <= 2.5x for 16)")  # fmt: skip
        per = statistics.median(
            r["device_cpu_s"] for (s, a), v in rows.items() if a == arm for r in v
        )
        agent = statistics.median(
            r["agent_cpu_s"] for (s, a), v in rows.items() if a == arm for r in v
        )
        print(f"{arm:>4}: device CPU per deploy {per:.3f} CPU-s with sshd, {agent:.3f} agent "
              "only (goal <= 0.2)")  # fmt: skip
    print(f"({os.cpu_count()} CPU cores shared by every device, the studio and other work)")


if __name__ == "__main__":
    main()
