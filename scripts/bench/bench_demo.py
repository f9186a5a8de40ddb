"""Benchmark: `tfstudio demo` end to end, its total time and each stage's share.

Each run is a fresh process (its own TFSTUDIO_HOME, process start and every
TensorFlow import included), as a newcomer runs it: train, export, convert
every mode, deploy each variant to `local`, bench each there. Configurations:
training in this process and, when the local engine has the TensorFlow image,
in a container; each with the conversion's child prestarted during training
(the default: its TensorFlow import overlaps the training) and without it (the
anchor). Rounds alternate the order so machine load hits all alike. Prints, per
configuration, the median total and each stage's seconds and share, and the
ratio prestarted/anchor. The headline is the whole `tfstudio demo` process as a
user types it (wall clock from spawn to exit, Python start-up and imports
included), goal < 60 s; the stages' sum is a breakdown, and what it leaves out
(start-up, imports, the report) is printed beside it.

    .venv/bin/python scripts/bench/bench_demo.py [--rounds 1] [--train-in process,container]

Quick mode: one round, training in this process, the prestarted configuration only.
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

from paired import QUICK, report_value

REPO = Path(__file__).resolve().parents[2]
STAGES = ("train", "export", "convert", "deploy", "bench")

RUNNER = """\
import json, sys
from tfstudio.workflows.demo.pipeline import DemoOptions, run_demo
from tfstudio.workflows.demo.training import TrainIn
from tfstudio.studio import Studio

where, prestart = sys.argv[1], sys.argv[2] == "1"
studio = Studio()
report = run_demo(studio, None, DemoOptions(TrainIn(where), prestart_converter=prestart))
studio.close()
print(json.dumps(report.to_json()))
"""


def demo_argv(where: str, prestart: bool) -> list[str]:
    """The command a user types (`tfstudio demo`, prestarted by default); the runner for the
    anchor, which turns the prestart off (no flag does)."""
    exe = Path(sys.executable).with_name("tfstudio")
    if prestart and exe.exists():
        return [str(exe), "demo", "--json", "--train-in", where]
    return [sys.executable, "-c", RUNNER, where, "1" if prestart else "0"]


def run_once(where: str, prestart: bool) -> dict[str, float]:
    """Runs one demo in a fresh process and home; returns each stage's seconds, their sum
    ("total") and the whole process's wall time ("wall")."""
    with tempfile.TemporaryDirectory(prefix="tfstudio-bench-demo-") as home:
        started = time.perf_counter()
        proc = subprocess.run(
            demo_argv(where, prestart),
            capture_output=True,
            text=True,
            cwd=REPO,
            env={
                **os.environ,
                "TFSTUDIO_HOME": home,
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONPATH": str(REPO),
            },
            timeout=900,
        )
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"bench_demo: the demo failed ({where}):\n{proc.stderr[-2000:]}")
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        doc = json.loads(proc.stdout.splitlines()[-1])
    if not doc["ok"]:
        sys.exit(f"bench_demo: a row failed: {[r for r in doc['rows'] if r['status'] != 'ok']}")
    times = {s["name"]: float(s["seconds"]) for s in doc["stages"]}
    times["total"] = sum(times[s] for s in STAGES)
    times["wall"] = wall
    return times


def container_available() -> bool:
    """True when the local engine has the demo's TensorFlow image."""
    sys.path.insert(0, str(REPO))
    from tfstudio.errors import TfStudioError
    from tfstudio.workflows.demo.training import DEFAULT_IMAGE, _image_on_local_engine

    try:
        _image_on_local_engine(DEFAULT_IMAGE)
    except TfStudioError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--train-in", default="process,container")
    args = parser.parse_args()
    wheres = [w for w in args.train_in.split(",") if w]
    if "container" in wheres and not container_available():
        print("bench_demo: no TensorFlow image on the local engine; process only")
        wheres.remove("container")
    if QUICK:
        wheres = ["process"]
    configs = [(w, p) for w in wheres for p in ((True,) if QUICK else (True, False))]
    results: dict[tuple[str, bool], list[dict[str, float]]] = {c: [] for c in configs}
    for i in range(args.rounds):
        order = configs if i % 2 == 0 else configs[::-1]
        for where, prestart in order:
            times = run_once(where, prestart)
            results[(where, prestart)].append(times)
            label = f"{where}{'' if prestart else ' (anchor: no prestart)'}"
            print(f"round {i + 1}: {label}: {times['total']:.1f} s", flush=True)

    print()
    header = ["train in", "converter", "total s", *(f"{s} s (%)" for s in STAGES)]
    lines = []
    for (where, prestart), runs in results.items():
        median = {k: statistics.median(r[k] for r in runs) for k in (*STAGES, "total")}
        cells = [where, "prestarted" if prestart else "cold (anchor)", f"{median['total']:.1f}"]
        cells += [f"{median[s]:.1f} ({100 * median[s] / median['total']:.0f}%)" for s in STAGES]
        lines.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(header)]
    for cells in [header, ["-" * w for w in widths], *lines]:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    print()
    for where in wheres:
        ours = results[(where, True)]
        wall = statistics.median(r["wall"] for r in ours)
        summed = statistics.median(r["total"] for r in ours)
        print(f"{where}: whole process {wall:.1f} s, of which the stages {summed:.1f} s and "
              f"start-up, imports and the report {wall - summed:.1f} s")  # fmt: skip
        if (where, False) in results:
            anchor = statistics.median(r["wall"] for r in results[(where, False)])
            print(f"{where}: whole process prestarted / cold = {wall / anchor:.2f}x (goal < 1.0x)")
        report_value(
            "demo",
            f"tfstudio demo, training in a {where}, whole process",
            "none (absolute)",
            "< 60 s",
            f"{wall:.1f} s (stages {summed:.1f} s)",
            wall < 60,
            note=f"{len(ours)} round(s)",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
