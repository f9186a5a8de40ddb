"""Benchmark: multi-worker jobs on this machine's one-node swarm.

1. **Start to every worker's first line**: `tfstudio train --workers 2 ...`
   (a fresh process, as typed; it checks the swarm, resolves the image, makes
   the network and two services, records provenance and follows both logs)
   against the same two services made by hand with the docker CLI (`docker
   network create`, two `docker service create -d`, one `docker service logs
   -f` each), with the same image reference (the image ID, which the swarm
   never tries to pull), the same endpoint mode, restart policy, init, mount
   and TF_CONFIG. The clock starts at spawn and stops when both workers'
   lines have reached our stdout. Busybox workers, so only the start is timed.
2. **Steps per second**: the MultiWorkerMirroredStrategy loop of
   tests/training/mwmsjob.py in two workers (`train --workers 2`) against the
   same loop in one container (`train`, no TF_CONFIG: one worker), each worker
   with its batch of 64; both as the workers report them (after tracing).
   Twice: without limits (both workers share both cores), and with `--cpus 1`
   each (one core per worker: two one-core machines, but for the network).

Whole commands in paired rounds whose order alternates (A then B, B then A);
prints min/median/max of the per-round ratio and the 1-minute load average
around each round.

    .venv/bin/python scripts/bench/bench_swarm.py [--rounds 5] [--steps 300] [--skip-steps]
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
import uuid
from collections.abc import Callable
from pathlib import Path

from paired import QUICK, Paired, pick, report, report_value

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
BUSYBOX = os.environ.get("TFSTUDIO_TEST_BUSYBOX_IMAGE", "tfstudio-test/busybox:1.35.0")
TF_IMAGE = os.environ.get("TFSTUDIO_TEST_TF_IMAGE", "tfstudio-local/tensorflow:2.21.0-cpu")
LINE = "first-line"


def load() -> float:
    """Returns the 1-minute load average."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def docker(*argv: str) -> str:
    return subprocess.run(
        ["docker", *argv], check=True, capture_output=True, text=True
    ).stdout.strip()


def until_lines(cmd: list[str], wanted: set[str], env: dict[str, str]) -> float:
    """Spawns `cmd`; returns the seconds until every line of `wanted` was printed; waits for
    its end (a `train` ends when its workers do)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    missing = set(wanted)
    for raw in proc.stdout:
        missing.discard(raw.decode(errors="replace").strip())
        if not missing:
            break
    elapsed = time.perf_counter() - started
    if missing:
        raise SystemExit(f"{cmd[:4]} ended without {sorted(missing)}")
    proc.wait(timeout=120)
    return elapsed


def tfstudio_start(workspace: str, env: dict[str, str]) -> float:
    cmd = [sys.executable, "-m", "tfstudio", "train", "--workers", "2", "--image", BUSYBOX,
           "--gpus", "none", "--workspace", workspace, "--", "echo", LINE]  # fmt: skip
    took = until_lines(cmd, {f"[w0] {LINE}", f"[w1] {LINE}"}, env)
    for job in json.loads(
        subprocess.run(
            [sys.executable, "-m", "tfstudio", "jobs", "--json", "--no-stats"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout
    ):  # fmt: skip
        subprocess.run([sys.executable, "-m", "tfstudio", "rm", "--force", job["job_id"]],
                       env=env, capture_output=True, check=True)  # fmt: skip
    return took


def by_hand_start(workspace: str, image_id: str, env: dict[str, str]) -> float:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    cluster = [f"{name}-w0:12345", f"{name}-w1:12345"]
    creates = []
    for i in range(2):
        config = json.dumps(
            {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": i}},
            separators=(",", ":"),
        )
        creates.append(
            f"docker service create -d -q --name {name}-w{i} --network {name} "
            f"--endpoint-mode dnsrr --restart-condition none --init "
            f"--mount type=bind,src={workspace},dst=/workspace -w /workspace "
            f"-e 'TF_CONFIG={config}' {image_id} echo {LINE} >/dev/null"
        )
    script = " && ".join(
        [
            f"docker network create --driver overlay --attachable {name} >/dev/null",
            *creates,
            f"{{ docker service logs -f --raw {name}-w0 & docker service logs -f --raw "
            f"{name}-w1 & wait; }}",
        ]
    )
    try:
        return _two_lines(["bash", "-c", script], env)
    finally:
        subprocess.run(["docker", "service", "rm", f"{name}-w0", f"{name}-w1"],
                       capture_output=True)  # fmt: skip
        for _ in range(80):
            if subprocess.run(["docker", "network", "rm", name], capture_output=True).returncode:
                time.sleep(0.25)
            else:
                break


def _two_lines(cmd: list[str], env: dict[str, str]) -> float:
    """Like `until_lines`, for two identical lines (one from each service's log); then ends
    the shell and its `docker service logs -f`, which never end by themselves."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    assert proc.stdout is not None
    seen = 0
    for raw in proc.stdout:
        seen += raw.decode(errors="replace").strip() == LINE
        if seen == 2:
            break
    elapsed = time.perf_counter() - started
    os.killpg(proc.pid, 9)
    proc.wait(timeout=60)
    if seen < 2:
        raise SystemExit("the hand-made services did not both print their line")
    return elapsed


def paired(
    rounds: int, first: Callable[[], float], second: Callable[[], float]
) -> tuple[list[float], list[float], list[float]]:
    """Runs `rounds` pairs, alternating which goes first; returns (a, b, load averages)."""
    a, b, loads = [], [], []
    for i in range(rounds):
        loads.append(load())
        if i % 2 == 0:
            a.append(first())
            b.append(second())
        else:
            b.append(second())
            a.append(first())
        loads.append(load())
        print(f"  round {i + 1}: {a[-1]:.3f} vs {b[-1]:.3f}  ratio {a[-1] / b[-1]:.2f}",
              flush=True)  # fmt: skip
    return a, b, loads


def summary(name: str, ratios: list[float], loads: list[float]) -> None:
    print(
        f"{name}: ratio min {min(ratios):.2f}  median {statistics.median(ratios):.2f}  "
        f"max {max(ratios):.2f}  (load 1m min {min(loads):.2f} median "
        f"{statistics.median(loads):.2f} max {max(loads):.2f}, {os.cpu_count()} CPUs)"
    )


def steps_per_second(workspace: Path, env: dict[str, str], workers: int, cpus: str | None) -> float:
    """Runs the loop; returns the steps per second (the slowest worker's, for two)."""
    from tests.training.mwmsjob import rates

    cmd = [sys.executable, "-m", "tfstudio", "train", "--image", TF_IMAGE, "--gpus", "none",
           "--workspace", str(workspace)]  # fmt: skip
    if workers > 1:
        cmd += ["--workers", str(workers)]
    if cpus:
        cmd += ["--cpus", cpus]
    proc = subprocess.run(
        [*cmd, "--", "python", "mwms_train.py"], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"the {workers}-worker loop failed: {proc.stderr[-2000:]}")
    lines = proc.stdout.splitlines()
    if workers == 1:
        lines = [f"[w0] {line}" for line in lines]
    found = rates(lines)
    if len(found) != workers:
        raise SystemExit(f"no steps/s from every worker: {proc.stdout[-1000:]}")
    for job in json.loads(
        subprocess.run([sys.executable, "-m", "tfstudio", "jobs", "--json", "--no-stats"],
                       env=env, capture_output=True, text=True, check=True).stdout
    ):  # fmt: skip
        subprocess.run([sys.executable, "-m", "tfstudio", "rm", job["job_id"]], env=env,
                       capture_output=True, check=True)  # fmt: skip
    return min(found.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=pick(7, 3))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--skip-steps", action="store_true", help="only the start figure")
    args = parser.parse_args()
    if docker("info", "--format", "{{.Swarm.ControlAvailable}}") != "true":
        raise SystemExit("the local engine is not a swarm manager: scripts/docker-test-env.sh")
    home = tempfile.mkdtemp(prefix="tfstudio-bench-home-")
    workspace = tempfile.mkdtemp(prefix="tfstudio-bench-ws-")
    env = {**os.environ, "TFSTUDIO_HOME": home, "PYTHONPATH": str(REPO)}
    image_id = docker("image", "inspect", "--format", "{{.Id}}", BUSYBOX)

    print(f"start to both workers' first line, {args.rounds} paired rounds (tfstudio vs by hand)")
    ours, hand, loads = paired(
        args.rounds,
        lambda: tfstudio_start(workspace, env),
        lambda: by_hand_start(workspace, image_id, env),
    )
    print(f"tfstudio train --workers 2: median {statistics.median(ours):.3f}s; "
          f"docker service create by hand: median {statistics.median(hand):.3f}s")  # fmt: skip
    summary("start ratio (goal <= 1.3)", [a / b for a, b in zip(ours, hand)], loads)
    report("swarm", "tfstudio train --workers 2 to both first lines", "docker service create "
           "by hand", 1.3, Paired(ours, hand))  # fmt: skip
    if args.skip_steps or QUICK:
        return

    from tests.training.mwmsjob import prepare_workspace

    tf_ws = Path(tempfile.mkdtemp(prefix="tfstudio-bench-mwms-"))
    prepare_workspace(tf_ws, steps=args.steps)
    for cpus in (None, "1"):
        label = "no limits" if cpus is None else f"--cpus {cpus} per worker"
        print(f"\nsteps/s, {args.steps} steps, batch 64 per worker, {label}: 2 workers vs 1")
        two, one, loads = paired(
            args.rounds,
            lambda c=cpus: steps_per_second(tf_ws, env, 2, c),
            lambda c=cpus: steps_per_second(tf_ws, env, 1, c),
        )
        print(f"2 workers: median {statistics.median(two):.1f} steps/s "
              f"({2 * 64 * statistics.median(two):.0f} examples/s); "
              f"1 worker: median {statistics.median(one):.1f} steps/s "
              f"({64 * statistics.median(one):.0f} examples/s)")  # fmt: skip
        ratios = [a / b for a, b in zip(two, one)]
        summary(f"steps/s ratio 2/1 ({label})", ratios, loads)
        report_value("swarm", f"steps/s, 2 workers / 1 ({label})", "1 worker", "none",
                     f"{statistics.median(ratios):.2f}x", None)  # fmt: skip


if __name__ == "__main__":
    main()
