"""Benchmark: `tfstudio jobs` with 20 running jobs vs `docker ps`.

Starts 20 busybox jobs through the core (the studio's labels, limits, init),
then times, alternating, fresh processes of `docker ps` (the anchor: one list
call, no stats), `docker stats --no-stream` (CPU and memory, as our list
shows), `tfstudio jobs` (list, inspect and one-shot stats of every job at
once) and `tfstudio jobs --no-stats`; and the same listing through the core
API in this process (`list_jobs`, as the terminal UI refreshes its jobs
pane). The headline is `tfstudio jobs` (the listing as typed, with CPU and
memory) against `docker ps`, both whole processes in paired rounds of
alternating order (`paired.py`), goal <= 2x; the other figures are a breakdown.

    .venv/bin/python scripts/bench/bench_jobs_list.py [--jobs 20] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paired import load, paired_rounds, report, rounds, wall

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("TFSTUDIO_TEST_BUSYBOX_IMAGE", "tfstudio-test/busybox:1.35.0")


def seconds(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--runs", type=int, default=rounds(7, 3))
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="tfstudio-bench-home-")
    workspace = tempfile.mkdtemp(prefix="tfstudio-bench-ws-")
    os.environ["TFSTUDIO_HOME"] = home
    sys.path.insert(0, str(REPO))
    from tfstudio.training.client import connect
    from tfstudio.training.engines import local_engine
    from tfstudio.training.jobs import kill_job, list_jobs, remove_job
    from tfstudio.training.jobspec import build_spec
    from tfstudio.training.launch import launch
    from tfstudio.training.settings import training_settings

    env = {**os.environ, "TFSTUDIO_HOME": home}
    client = connect(local_engine())
    jobs = []
    try:
        spec = build_spec(
            client.engine,
            training_settings(),
            ["sleep", "3600"],
            image=IMAGE,
            workspace=workspace,
            gpus="none",
            memory="32m",
        )
        for _ in range(args.jobs):
            jobs.append(launch(client, spec).job)
        listed = list_jobs(client)
        assert len(listed) == args.jobs and all(j.memory_bytes is not None for j in listed)
        commands = {
            "docker ps": ["docker", "ps"],
            "docker stats --no-stream": ["docker", "stats", "--no-stream"],
            "tfstudio jobs": [sys.executable, "-m", "tfstudio", "jobs"],
            "tfstudio jobs --no-stats": [sys.executable, "-m", "tfstudio", "jobs", "--no-stats"],
        }
        for cmd in commands.values():
            seconds(cmd, env)
        print(f"tfstudio jobs vs docker ps, {args.jobs} running jobs ({load()})")
        env["PYTHONPATH"] = str(REPO)
        exe = Path(sys.executable).with_name("tfstudio")
        typed = [str(exe), "jobs"] if exe.exists() else commands["tfstudio jobs"]
        headline = paired_rounds(
            lambda: wall(typed, env),
            lambda: wall(["docker", "ps"], env),
            args.runs,
            names=("tfstudio jobs", "docker ps"),
        )
        core = ["list_jobs (core)", "list_jobs no stats (core)"]
        times: dict[str, list[float]] = {name: [] for name in [*commands, *core]}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(seconds(cmd, env))
            started = time.perf_counter()
            list_jobs(client)
            times["list_jobs (core)"].append(time.perf_counter() - started)
            started = time.perf_counter()
            list_jobs(client, stats=False)
            times["list_jobs no stats (core)"].append(time.perf_counter() - started)
    finally:
        for job in jobs:
            try:
                remove_job(client, kill_job(client, job))
            except Exception as exc:  # noqa: BLE001 - clean up as much as possible
                print(f"cleanup of {job.job_id} failed: {exc}", file=sys.stderr)
        client.close()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(workspace, ignore_errors=True)
    report("jobs_list", f"tfstudio jobs, {args.jobs} running", "docker ps", 2.0, headline)
    print("  breakdown (medians, fresh processes except the core):")
    medians = {name: statistics.median(t) for name, t in times.items()}
    ps, stats = medians["docker ps"], medians["docker stats --no-stream"]
    print(f"{args.jobs} running jobs, {args.runs} runs each (fresh processes, except the core)")
    for name, value in medians.items():
        print(
            f"{name:26} median {value * 1000:6.0f} ms   /docker ps {value / ps:5.2f}x"
            f"   /docker stats {value / stats:5.2f}x"
        )


if __name__ == "__main__":
    main()
