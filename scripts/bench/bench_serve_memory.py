"""Peak RSS of `serve` under 8 concurrent maximal predicts (goal: growth <= 8 x 4 x body).

For each body shape, a fresh `serve` (the default limits: 8 in flight, 4 MiB
bodies) on a fresh agent home with the model installed; one small predict
loads everything, then the server's peak RSS is reset (`/proc/PID/clear_refs`)
and its RSS read as the baseline (the model is in it). Eight clients then send
the same maximal body (just under 4 MiB) at once; the figure is the server's
VmHWM minus the baseline, next to the bound `max_inflight x 4 x body`, and the
answers' status codes (a 503 is the budget making a request wait too long).

Bodies: plain arrays of numbers (`0`, `1.5`, nine-digit fractions: what clients
send, decoded by the lean path), the same with a `signature_name`, and rows as
objects (`[{"x": [...]}, ...]`: the general decoder, which the budget admits
one largest at a time). Models: the tests' 64-input MLP and MobileNetV2
(224x224x3, `weights=None`).

    .venv/bin/python scripts/bench/bench_serve_memory.py [--rounds 1] [--mlp-only]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from agent_bench_common import REPO, mobilenet_models

MIB = 1024 * 1024
LIMIT = 4 * MIB


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def body(kind: str, dims: list[int], input_name: str) -> bytes:
    """A body of `kind` just under LIMIT bytes (examples of shape `dims`)."""
    cell = {"zeros": "0", "halves": "1.5", "fractions": "0.123456789"}.get(kind, "0.5")
    row = cell
    for d in reversed(dims):
        row = "[" + ",".join([row] * d) + "]"
    if kind == "objects":
        row = json.dumps({input_name: json.loads(row)}, separators=(",", ":"))
    head = (
        '{"signature_name": "serving_default", "instances": ['
        if kind == "named"
        else ('{"instances": [')
    )
    n = max(1, (LIMIT - len(head) - 4) // (len(row) + 1))
    return (head + ",".join([row] * n) + "]}").encode()


def measure(model: Path, kind: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    with tempfile.TemporaryDirectory(prefix="serve-mem-") as home:
        agent = [sys.executable, "-m", "edge_agent", "--home", home]
        subprocess.run([*agent, "install", str(model), "--json"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        proc = subprocess.Popen(
            [*agent, "serve", "--port", "0", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None
            port = json.loads(proc.stdout.readline())["port"]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("GET", "/v1/models/default/metadata")
            meta = json.loads(conn.getresponse().read())
            (name, tensor), = meta["metadata"]["signature_def"]["signature_def"][
                "serving_default"]["inputs"].items()  # fmt: skip
            dims = [int(d["size"]) for d in tensor["tensor_shape"]["dim"]][1:]
            one = body(kind, dims, name)
            flat = json.loads(one)
            small = dict(flat, instances=flat["instances"][:1])
            conn.request("POST", "/v1/models/default:predict", json.dumps(small).encode())
            conn.getresponse().read()
            time.sleep(0.5)
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
            before = status_kib(proc.pid, "VmRSS")
            codes: list = []

            def client() -> None:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                try:
                    c.request("POST", "/v1/models/default:predict", one)
                    r = c.getresponse()
                    r.read()
                    codes.append(r.status)
                except OSError as exc:
                    codes.append(type(exc).__name__)
                finally:
                    c.close()

            started = time.monotonic()
            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.monotonic() - started
            grown = (status_kib(proc.pid, "VmHWM") - before) / 1024
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {"body_mib": len(one) / MIB, "grown_mib": grown, "bound_mib": 8 * 4 * len(one) / MIB,
            "codes": codes, "wall_s": wall}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--mlp-only", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from tests.helpers.models import float_mlp

    cache = Path(os.environ.get("TFSTUDIO_BENCH_CACHE", "/tmp/tfstudio-bench-models"))
    cache.mkdir(parents=True, exist_ok=True)
    mlp = cache / "mlp64.tflite"
    if not mlp.exists():
        float_mlp(mlp, [32])
    models = {"mlp (64 in)": mlp}
    if not args.mlp_only:
        models["mobilenet_v2 float32"] = mobilenet_models()["float32"]
    print(f"{'model':22} {'body':10} {'MiB':>5} {'grown':>7} {'bound':>7}  ok  wall   codes")
    worst = 0.0
    for label, model in models.items():
        for kind in ("zeros", "halves", "fractions", "named", "objects"):
            for _ in range(args.rounds):
                r = measure(model, kind)
                ok = r["grown_mib"] <= r["bound_mib"]
                worst = max(worst, r["grown_mib"] / r["bound_mib"])
                print(f"{label:22} {kind:10} {r['body_mib']:5.2f} {r['grown_mib']:7.1f} "
                      f"{r['bound_mib']:7.1f}  {'yes' if ok else 'NO ':3} {r['wall_s']:5.1f}  "
                      f"{sorted(set(map(str, r['codes'])))}")  # fmt: skip
    print(f"worst growth / bound: {worst:.2f} (goal: <= 1)")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
