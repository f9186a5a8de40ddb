"""Benchmark: wall time of `tfstudio --help` vs `python -c 'import tensorflow'`.

`--help` must not import tensorflow, so it should cost a small fraction of the
import. Each command runs in a fresh process, alternating, several times;
prints medians and the ratio help/import (lower is better).

    .venv/bin/python scripts/bench/bench_help.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        cmd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    help_cmd = [sys.executable, "-m", "tfstudio", "--help"]
    tf_cmd = [sys.executable, "-c", "import tensorflow"]
    timed(help_cmd)  # warm the file cache for both before measuring
    timed(tf_cmd)
    helps, imports = [], []
    for _ in range(args.runs):
        helps.append(timed(help_cmd))
        imports.append(timed(tf_cmd))
    h, t = statistics.median(helps), statistics.median(imports)
    print(f"tfstudio --help            median {h * 1000:7.0f} ms over {args.runs} runs")
    print(f"python -c 'import tensorflow' median {t * 1000:7.0f} ms over {args.runs} runs")
    print(f"ratio help/import: {h / t:.3f}x")


if __name__ == "__main__":
    main()
