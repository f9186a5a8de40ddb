"""Repeatability: the spread of the agent's bench p50 across 3 repeated benches.

MobileNetV2 224 int8 and float32 at 1 and 2 threads, each benched 3 times in
fresh processes with the agent's defaults (10 warmup runs / 0.5 s, then >= 100
runs and >= 1 s). Spread = (max - min) / median of the three p50s. It also
prints the int8 bench reports (p50/p90/p99/init/first) asked for in issue 3.

Usage: .venv/bin/python scripts/bench/bench_agent_repeat.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent_bench_common import agent_bench, median, mobilenet_models  # noqa: E402
from paired import pick, report_value  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=pick(3, 2))
    args = parser.parse_args()
    models = mobilenet_models()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'model':<10}{'threads':>8}  {'p50 ms per run':<28}{'spread':>8}")
    int8_reports = {}
    worst = 0.0
    for mode in ("int8", "float32"):
        for threads in (1, 2):
            reports = [agent_bench(models[mode], threads) for _ in range(args.repeats)]
            p50s = [r["p50_ms"] for r in reports]
            spread = (max(p50s) - min(p50s)) / median(p50s)
            cells = ", ".join(f"{p:.3f}" for p in p50s)
            print(f"{mode:<10}{threads:>8}  {cells:<28}{spread:>7.1%}")
            worst = max(worst, spread)
            if mode == "int8":
                int8_reports[threads] = reports[-1]
    report_value("agent_repeat", "spread of the agent's bench p50 (worst case)", "itself",
                 "none", f"{worst:.1%}", None, note=f"{args.repeats} repeats")  # fmt: skip
    print("\nagent bench report, MobileNetV2 224 int8 (last of the repeats):")
    keys = ("init_ms", "first_invoke_ms", "warmup_mean_ms", "mean_ms", "p50_ms", "p90_ms",
            "p99_ms", "p999_ms", "runs", "throughput_ips", "rss_peak_mb")  # fmt: skip
    for threads, r in int8_reports.items():
        print(f"  threads={threads}: " + ", ".join(f"{k}={r[k]}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
