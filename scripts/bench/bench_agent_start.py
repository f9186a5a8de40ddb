"""Agent start: process start -> "model ready" for the zipapp, against the model's own load time.

"Model ready" is the moment `python3 tfstudio-agent.pyz serve` prints its
serving line: Python started, the agent imported from the zip, numpy and the
runtime imported, the active model's sha256 checked, loaded, allocated and
invoked once. The model's own load time is `Interpreter(model_path) +
allocate_tensors()` alone, measured inside an already-started process. The
Python that runs it is the clean device venv's (numpy + ai-edge-litert only).

Usage: .venv/bin/python scripts/bench/bench_agent_start.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent_bench_common import median, mobilenet_models  # noqa: E402
from paired import pick, report_value  # noqa: E402

DEVICE_PY = os.environ.get("TFSTUDIO_DEVICE_PY", "/opt/tfstudio-test/venvs/device/bin/python")
if not Path(DEVICE_PY).exists():  # scripts/prepare-test-env.sh builds it
    print(f"note: {DEVICE_PY} missing; using {sys.executable} (the studio's venv) instead")
    DEVICE_PY = sys.executable

OWN_LOAD = r"""
import json, sys, time
from ai_edge_litert.interpreter import Interpreter
t0 = time.perf_counter()
i = Interpreter(model_path=sys.argv[1]); i.allocate_tensors()
print(json.dumps({"load_ms": (time.perf_counter() - t0) * 1e3}))
"""


def time_to_ready(pyz: Path, home: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [DEVICE_PY, str(pyz), "--home", str(home), "serve", "--port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    line = proc.stdout.readline() if proc.stdout else ""
    ready = (time.perf_counter() - t0) * 1e3
    proc.terminate()
    proc.wait(timeout=10)
    if not line.startswith("{"):
        raise SystemExit(f"serve did not start: {line!r}")
    return ready


def wall_ms(cmd: list) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return (time.perf_counter() - t0) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=pick(5, 2))
    args = parser.parse_args()
    from tfstudio.fleet.agent_bundle import build_agent_pyz

    models = mobilenet_models()
    with tempfile.TemporaryDirectory(prefix="agent-start-") as tmp:
        pyz = build_agent_pyz(Path(tmp))
        bare_py = median([wall_ms([DEVICE_PY, "-c", "pass"]) for _ in range(args.repeats)])
        imports = median(
            [
                wall_ms([DEVICE_PY, "-c", "import numpy, ai_edge_litert.interpreter"])
                for _ in range(args.repeats)
            ]  # fmt: skip
        )
        print(f"python start {bare_py:.1f} ms; python + numpy + ai_edge_litert {imports:.1f} ms")
        print(f"{'model':<10}{'start->ready ms':>17}{'own load ms':>13}{'ratio':>8}"
              f"{'rest ms':>10}")  # fmt: skip
        for mode, model in models.items():
            home = Path(tmp) / mode
            subprocess.run(
                [DEVICE_PY, str(pyz), "--home", str(home), "install", str(model), "--json"],
                check=True, capture_output=True,
            )  # fmt: skip
            ready = median([time_to_ready(pyz, home) for _ in range(args.repeats)])
            loads = []
            for _ in range(args.repeats):
                out = subprocess.run([DEVICE_PY, "-c", OWN_LOAD, str(model)],
                                     check=True, capture_output=True, text=True)  # fmt: skip
                loads.append(json.loads(out.stdout)["load_ms"])
            load = median(loads)
            rest = ready - load - imports
            print(f"{mode:<10}{ready:>17.1f}{load:>13.1f}{ready / load:>8.2f}{rest:>10.1f}")
            report_value("agent_start", f"agent serve start to model ready, {mode}",
                         "the model's own load", "none", f"{ready:.0f} ms vs {load:.0f} ms "
                         f"(agent's own {rest:.0f} ms)", None)  # fmt: skip
        print("rest = start->ready - own load - (python + imports): the agent's own start cost "
              "(zip import, sha256 check, one validation invoke, bind)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
