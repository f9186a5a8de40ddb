"""Agent cold start for `info`: the zipapp on the device venv vs a bare `python -c pass`.

Runs, interleaved so machine load hits all alike: `python -c pass`, `python
-c "import numpy, ai_edge_litert.interpreter"` (what an `info` that imported
the runtime would pay), and `python tfstudio-agent.pyz --home H info --json`,
each as a fresh process, many times. Prints min and median of each and checks
the agent's median against the goal: <= 1.1 x `python -c pass` + 30 ms.

    .venv/bin/python scripts/bench/bench_agent_info.py [--repeats 40]

Paired rounds of alternating order (`paired.py`): the headline is the per-round
ratio info / pass against the goal turned into a ratio at the median `pass`.
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

from paired import load, paired_rounds, pick, report, wall  # noqa: E402

from tfstudio.fleet.agent_bundle import build_agent_pyz  # noqa: E402

DEVICE_PY = os.environ.get("TFSTUDIO_DEVICE_PYTHON", "/opt/tfstudio-test/venvs/device/bin/python")


def wall_ms(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=pick(40, 15))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agent-info-") as tmp:
        pyz = build_agent_pyz(Path(tmp))
        home = Path(tmp) / "home"
        info_cmd = [DEVICE_PY, str(pyz), "--home", str(home), "info", "--json"]
        pass_cmd = [DEVICE_PY, "-c", "pass"]
        imports = [DEVICE_PY, "-c", "import numpy, ai_edge_litert.interpreter"]
        wall(info_cmd)
        print(f"agent info vs python -c pass, the device venv's Python ({load()})")
        paired = paired_rounds(
            lambda: wall(info_cmd),
            lambda: wall(pass_cmd),
            args.repeats,
            names=("agent info", "python -c pass"),
        )
        heavy = statistics.median(wall(imports) for _ in range(5))
    bare = statistics.median(paired.anchor)
    goal = (1.1 * bare + 0.030) / bare  # the goal, info <= 1.1 x pass + 30 ms, as a ratio
    report("agent_info", "agent info --json", "python -c pass", round(goal, 2), paired,
           note="goal: 1.1 x pass + 30 ms")  # fmt: skip
    print(f"  for scale: python -c 'import numpy, ai_edge_litert.interpreter' {heavy * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
