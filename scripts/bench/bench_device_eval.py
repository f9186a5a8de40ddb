"""On-device eval of 450 digits samples: the agent's `eval` vs the same loop run bare.

Both run as fresh processes of the device's Python (the `device` test venv:
ai-edge-litert + numpy), alternately, several rounds:

- agent: `python tfstudio-agent.pyz eval DATA --model MODEL --sha256 SHA` (the
  zipapp the studio pushes: start, imports, hash check, load, loop, scoring,
  report appended to the device's log);
- bare: a script that imports the runtime and numpy, loads the model and the
  data, runs the same set/invoke/get loop and computes the accuracy.

Prints medians and ratios agent / bare (goal <= 1.1x) of: the whole process;
the eval itself (from the model and data to the score: the agent's
`total_ms`, which adds its hash checks and the report it appends, against the
bare script's span from loading the data to its accuracy); the loop alone.
Python's start and the numpy + runtime imports are the same in both and
dominate the whole process.

    .venv/bin/python scripts/bench/bench_device_eval.py [--rounds 9] [--model int8]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _lab import REPO
from paired import Paired, pick
from paired import report as report_paired

from tests.conftest import VENVS
from tests.helpers.digits import build_digits
from tfstudio.fleet.agent_bundle import build_agent_pyz

BARE = """
import sys, time
import numpy as np
from ai_edge_litert.interpreter import Interpreter
model, data = sys.argv[1], sys.argv[2]
begun = time.perf_counter()
arrays = np.load(data)
x, y = arrays["x"], arrays["y"]
interp = Interpreter(model_path=model)
interp.allocate_tensors()
inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
scale, zero = inp["quantization"]
if scale:
    x = np.clip(np.round(x / scale + zero), -128, 127).astype(inp["dtype"])
started = time.perf_counter()
results = np.empty((len(x), *out["shape"][1:]), dtype=out["dtype"])
for i in range(len(x)):
    interp.set_tensor(inp["index"], x[i : i + 1])
    interp.invoke()
    results[i] = interp.get_tensor(out["index"])[0]
loop_ms = (time.perf_counter() - started) * 1000
accuracy = float(np.mean(results.reshape(len(x), -1).argmax(axis=1) == y))
print(loop_ms, accuracy, (time.perf_counter() - begun) * 1000)
"""


def _timed(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    return (time.perf_counter() - started) * 1000, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=pick(9, 3))
    parser.add_argument("--model", default="int8", choices=["float32", "int8", "float16"])
    args = parser.parse_args()
    python = str(VENVS / "device" / "bin" / "python")
    work = Path(tempfile.mkdtemp(prefix="tfstudio-bench-eval-"))
    digits = build_digits(work)
    model = digits.models[args.model]
    data = digits.eval_npz
    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    pyz = build_agent_pyz(work)
    home = work / "agent-home"
    agent = [python, str(pyz), f"--home={home}", "--json", "eval", f"--model={model}",
             f"--sha256={sha}", "--", str(data)]  # fmt: skip
    bare = [python, "-c", BARE, str(model), str(data)]
    _timed(agent), _timed(bare)  # warm the page cache and the pyz's bytecode
    agent_ms, bare_ms, agent_loop, bare_loop, agent_eval, bare_eval = [], [], [], [], [], []
    accuracy = {}
    for i in range(args.rounds):  # the bare loop first in even rounds, the agent in odd ones
        for side in ("bare", "agent") if i % 2 == 0 else ("agent", "bare"):
            if side == "agent":
                total, out = _timed(agent)
                report = json.loads(out)
                agent_ms.append(total)
                agent_loop.append(report["loop_ms"])
                agent_eval.append(report["total_ms"])
                accuracy["agent"] = report["accuracy"]
            else:
                total, out = _timed(bare)
                loop, acc, span = out.split()
                bare_ms.append(total)
                bare_loop.append(float(loop))
                bare_eval.append(float(span))
                accuracy["bare"] = float(acc)
    assert accuracy["agent"] == accuracy["bare"], accuracy
    med = statistics.median
    samples = digits.x_test.shape[0]
    print(f"digits {args.model}, {samples} samples, accuracy {accuracy['agent']:.4f}, "
          f"{args.rounds} rounds (device venv: {python})")  # fmt: skip
    for label, mine, bare_, goal in (
        ("whole process", agent_ms, bare_ms, " (goal <= 1.1x)"),
        ("eval itself", agent_eval, bare_eval, " (goal <= 1.1x)"),
        ("loop only", agent_loop, bare_loop, ""),
    ):
        print(f"  {label + ':':14} agent eval {med(mine):8.2f} ms   bare loop {med(bare_):8.2f} ms"
              f"   ratio {med(mine) / med(bare_):.3f}x{goal}")  # fmt: skip
    print(f"  (repo {REPO.name}; agent zipapp {pyz.stat().st_size} bytes)")
    whole = Paired([x / 1e3 for x in agent_ms], [x / 1e3 for x in bare_ms])
    report_paired(
        "device_eval", f"agent eval, {samples} digits, whole process", "the bare loop", 1.1, whole
    )


if __name__ == "__main__":
    main()
