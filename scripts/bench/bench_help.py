"""Benchmark: `tfstudio --help` vs `python -c pass`, both whole processes (goal <= 2x).

Ours is the console script a user types (`.venv/bin/tfstudio --help`, this
checkout's code first on the path); the anchor is the same interpreter doing
nothing (`python -c pass`), so the ratio is what the command adds to starting
Python. Paired rounds, alternating order (`paired.py`); a cheap command, so many
rounds. `python -c 'import tensorflow'` is timed once, for scale: `--help`
must never load it.

    .venv/bin/python scripts/bench/bench_help.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from paired import load, paired_rounds, pick, report, wall

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    exe = Path(sys.executable).with_name("tfstudio")
    help_cmd = (
        [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "tfstudio", "--help"]
    )
    pass_cmd = [sys.executable, "-c", "pass"]
    wall(help_cmd, env)  # warm the file cache for both
    wall(pass_cmd, env)
    print(f"tfstudio --help vs python -c pass ({load()})")
    paired = paired_rounds(
        lambda: wall(help_cmd, env),
        lambda: wall(pass_cmd, env),
        pick(41, 15),
        names=("tfstudio --help", "python -c pass"),
    )
    report("help", "tfstudio --help", "python -c pass", 2.0, paired)
    tf = wall([sys.executable, "-c", "import tensorflow"], env)
    print(f"  for scale: python -c 'import tensorflow' {tf:.2f} s (once)")


if __name__ == "__main__":
    main()
