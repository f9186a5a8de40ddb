"""Agent cold start for `info`: the zipapp on the device venv vs a bare `python -c pass`.

Runs, interleaved so machine load hits all alike: `python -c pass`, `python
-c "import numpy, ai_edge_litert.interpreter"` (what an `info` that imported
the runtime would pay), and `python tfstudio-agent.pyz --home H info --json`,
each as a fresh process, many times. Prints min and median of each and checks
the agent's median against the goal: <= 1.1 x `python -c pass` + 30 ms.

    .venv/bin/python scripts/bench/bench_agent_info.py [--repeats 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tfstudio.fleet.agent_bundle import build_agent_pyz  # noqa: E402

DEVICE_PY = os.environ.get("TFSTUDIO_DEVICE_PYTHON", "/opt/tfstudio-test/venvs/device/bin/python")


def wall_ms(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agent-info-") as tmp:
        pyz = build_agent_pyz(Path(tmp))
        home = Path(tmp) / "home"
        runs = {
            "python -c pass": [DEVICE_PY, "-c", "pass"],
            "import numpy + runtime": [DEVICE_PY, "-c", "import numpy, ai_edge_litert.interpreter"],
            "agent info": [DEVICE_PY, str(pyz), "--home", str(home), "info", "--json"],
        }
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):
            for label, cmd in runs.items():
                times[label].append(wall_ms(cmd))
    for label, values in times.items():
        print(f"{label:<24} min {min(values):6.1f} ms   median {statistics.median(values):6.1f} ms")
    bare = statistics.median(times["python -c pass"])
    info = statistics.median(times["agent info"])
    goal = 1.1 * bare + 30
    print(f"agent info / python -c pass: {info / bare:.2f}x; goal: info <= 1.1 x pass + 30 ms "
          f"= {goal:.1f} ms: {'met' if info <= goal else 'NOT met'} ({info:.1f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
