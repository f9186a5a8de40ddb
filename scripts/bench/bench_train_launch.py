"""Benchmark: launch to first log line, `tfstudio train` vs `docker run`, busybox image.

`docker run` is the anchor, run as a fresh process each time: the clock starts
at spawn and stops when the container's first line reaches our stdout.
tfstudio adds the tag policy, image resolution (digest for provenance),
labels, the workspace mount, an init process and the provenance record. It is
measured two ways, alternating with the anchor:

- cold: `tfstudio train ...` as a fresh process, as a user types it; this pays
  for starting Python and importing the Docker SDK (requests, urllib3), which
  a Go CLI does not (printed as the "import floor");
- warm: the same launch through the core API in this process, connected once,
  as the terminal UI (a long-lived process) launches jobs.

The headline is the cold figure: `tfstudio train` and `docker run` as whole
processes in paired rounds of alternating order (`paired.py`), goal <= 1.3x.
The warm launch and the import floor are a breakdown under it, not verdicts.

    .venv/bin/python scripts/bench/bench_train_launch.py
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
import uuid
from pathlib import Path

from paired import load, paired_rounds, report, rounds

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("TFSTUDIO_TEST_BUSYBOX_IMAGE", "tfstudio-test/busybox:1.35.0")


def first_line_seconds(cmd: list[str], env: dict[str, str]) -> float:
    """Spawns `cmd` and returns the seconds until its first stdout line; waits for its end."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.communicate(timeout=60)
    if b"first-line" not in line:
        raise SystemExit(f"{cmd[0]} printed {line!r}, not the container's line")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    home = tempfile.mkdtemp(prefix="tfstudio-bench-home-")
    workspace = tempfile.mkdtemp(prefix="tfstudio-bench-ws-")
    env = {**os.environ, "TFSTUDIO_HOME": home, "PYTHONPATH": str(REPO)}
    tag = uuid.uuid4().hex[:8]
    names: list[str] = []

    def docker_cmd() -> list[str]:
        names.append(f"bench-run-{tag}-{len(names)}")
        return ["docker", "run", "--name", names[-1], IMAGE, "echo", "first-line"]

    exe = Path(sys.executable).with_name("tfstudio")
    train = [
        *([str(exe)] if exe.exists() else [sys.executable, "-m", "tfstudio"]),
        "train",
        "--image",
        IMAGE,
        "--gpus",
        "none",
        "--workspace",
        workspace,
        "--",
        "echo",
        "first-line",
    ]
    floor_cmd = [
        sys.executable,
        "-c",
        "import tfstudio.cli as c; c.build_parser(['train']); "
        "from tfstudio.training.client import docker_sdk; docker_sdk()",
    ]
    os.environ["TFSTUDIO_HOME"] = home
    sys.path.insert(0, str(REPO))
    try:
        first_line_seconds(docker_cmd(), env)  # warm caches for both
        first_line_seconds(train, env)
        print(f"cold tfstudio train vs docker run, to the first log line ({load()})")
        paired = paired_rounds(
            lambda: first_line_seconds(train, env),
            lambda: first_line_seconds(docker_cmd(), env),
            rounds(7, 3),
            names=("tfstudio train", "docker run"),
        )
        report("train_launch", "tfstudio train (cold) to first line", "docker run", 1.3, paired)
        warm = WarmLauncher(workspace)
        warms = [warm.first_line_seconds() for _ in range(rounds(7, 3))]
        warm.close()
        floors = [_seconds(floor_cmd) for _ in range(3)]
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True)
        studio = f"label=tfstudio.studio={_studio_id(home)}"
        mine = subprocess.run(
            ["docker", "ps", "-aq", "--filter", studio], capture_output=True, text=True
        ).stdout.split()
        if mine:
            subprocess.run(["docker", "rm", "-f", *mine], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(workspace, ignore_errors=True)
    r, w, f = statistics.median(paired.anchor), statistics.median(warms), statistics.median(floors)
    print(f"  breakdown: core launch in a warm process (as the UI launches) median "
          f"{w * 1000:.0f} ms ({w / r:.2f}x docker run's median); import floor (python + CLI "
          f"parser + docker SDK) median {f * 1000:.0f} ms")  # fmt: skip


class WarmLauncher:
    """Launches busybox jobs through the core API on one connection, as a TUI does."""

    def __init__(self, workspace: str) -> None:
        from tfstudio.training.client import connect
        from tfstudio.training.engines import local_engine

        self.client = connect(local_engine())
        self.workspace = workspace

    def first_line_seconds(self) -> float:
        import queue

        from tfstudio.training.jobspec import build_spec
        from tfstudio.training.launch import launch
        from tfstudio.training.logs import LogFollower
        from tfstudio.training.settings import training_settings

        lines: queue.Queue[str] = queue.Queue()
        started = time.perf_counter()
        spec = build_spec(
            self.client.engine,
            training_settings(),
            ["echo", "first-line"],
            image=IMAGE,
            gpus="none",
            workspace=self.workspace,
        )
        result = launch(self.client, spec, attach=True)
        follower = LogFollower(
            self.client, result.job, lambda line: lines.put(line.text), stream=result.output
        ).start()
        text = lines.get(timeout=60)
        elapsed = time.perf_counter() - started
        follower.stop()
        if "first-line" not in text:
            raise SystemExit(f"the job printed {text!r}")
        return elapsed

    def close(self) -> None:
        self.client.close()


def _seconds(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - started


def _studio_id(home: str) -> str:
    path = Path(home, "studio-id")
    return path.read_text().strip() if path.exists() else ""


if __name__ == "__main__":
    main()
