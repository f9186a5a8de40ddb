"""Install peak memory of a 200 MB model vs the runtime's own load of it (goal: <= own + 64 MB).

On the device venv's Python, in a fresh agent home each round:
- the runtime's own load: a process that imports the runtime, builds
  `Interpreter(model_path=...)`, allocates and invokes once; its peak RSS;
- install through an agent session: the model is uploaded (hashed as it
  arrives), then installed; the peak RSS (VmHWM) of the session process and
  of its runtime child (which validates), read from /proc while both live.
  Their sum is the install's peak on the device;
- for reference, the agent of release 0.2.0 (tests/assets): peak RSS of its
  `install` process, which read the model into memory (the validation child's
  is not counted).

    .venv/bin/python scripts/bench/bench_install_memory.py [--mb 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _lab import make_big_mlp
from paired import pick, report_value

from tests.helpers.agents import previous_agent_pyz

DEVICE_PY = os.environ.get("TFSTUDIO_DEVICE_PYTHON", "/opt/tfstudio-test/venvs/device/bin/python")

OWN_LOAD = """import resource, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
i = Interpreter(model_path=sys.argv[1]); i.allocate_tensors()
d = i.get_input_details()[0]; i.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
i.invoke()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def session_install(pyz: Path, home: Path, model: Path, sha: str) -> tuple[int, int]:
    """Uploads and installs through a session; returns (session peak, child peak) in KiB."""
    proc = subprocess.Popen(
        [DEVICE_PY, str(pyz), "--home", str(home), "session"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdout.readline()

    def call(op: str, args: dict, body: Path | None = None) -> dict:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps({"id": 1, "op": op, "args": args}) + "\n").encode())
        if body is not None:
            with open(body, "rb") as handle:
                while block := handle.read(1 << 20):
                    proc.stdin.write(block)
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        assert answer["ok"], answer
        return dict(answer["result"])

    size = model.stat().st_size
    call("lock", {"id": "deploy-membench1"})
    call("upload", {"sha256": sha, "total": size, "length": size}, body=model)
    call("install", {"path": str(home / "inbox" / f"{sha}.partial"), "sha256": sha})
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    peaks = (vm_hwm_kib(proc.pid), vm_hwm_kib(int(children[0])))
    proc.stdin.close()
    proc.wait(timeout=60)
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=pick(3, 1))
    args = parser.parse_args()
    from tfstudio.fleet.agent_bundle import build_agent_pyz

    model = make_big_mlp(args.mb)
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    own, agent, child, old = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="install-mem-") as tmp:
        pyz = build_agent_pyz(Path(tmp))
        old_pyz = previous_agent_pyz(Path(tmp))
        for i in range(args.rounds):
            out = subprocess.run([DEVICE_PY, "-c", OWN_LOAD, str(model)],
                                 capture_output=True, text=True, check=True)  # fmt: skip
            own.append(int(out.stdout.split()[-1]))
            a, c = session_install(pyz, Path(tmp) / f"home{i}", model, sha)
            agent.append(a)
            child.append(c)
            timed = subprocess.run(
                ["/usr/bin/time", "-f", "%M", DEVICE_PY, str(old_pyz), "--home",
                 str(Path(tmp) / f"old{i}"), "install", str(model), "--json"],
                capture_output=True, text=True, cwd=tmp,
            )  # fmt: skip
            if timed.returncode != 0:
                raise SystemExit(f"agent 0.2.0 install failed: {timed.stdout}{timed.stderr}")
            old.append(int(timed.stderr.split()[-1]))
    mb = 1024.0
    own_m, agent_m, child_m = (statistics.median(v) / mb for v in (own, agent, child))
    print(f"model: {model.stat().st_size / 1e6:.0f} MB ({args.rounds} rounds, medians)")
    print(f"runtime's own load (Interpreter(model_path) + allocate + invoke): {own_m:.0f} MB")
    print(f"install via the session: agent {agent_m:.0f} MB + runtime child {child_m:.0f} MB "
          f"= {agent_m + child_m:.0f} MB peak")  # fmt: skip
    print(f"agent 0.2.0 install process alone (before this change): "
          f"{statistics.median(old) / mb:.0f} MB")  # fmt: skip
    extra = agent_m + child_m - own_m
    print(f"install peak - own load: {extra:+.0f} MB (goal <= +64 MB): "
          f"{'met' if extra <= 64 else 'NOT met'}")  # fmt: skip
    report_value("install_memory", f"install peak memory, {args.mb} MB model",
                 "the runtime's own load", "<= own + 64 MB", f"{extra:+.0f} MB",
                 extra <= 64)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
