"""Shared by the agent benchmarks: MobileNetV2 models (cached) and process runners.

MobileNetV2 (weights=None, 224x224) is converted with TensorFlow directly into
float32 and int8 (20 random representative samples), cached under
$TFSTUDIO_BENCH_CACHE (default /tmp/tfstudio-bench-models), so only the first
run pays the ~10 s conversion.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("TFSTUDIO_BENCH_CACHE", "/tmp/tfstudio-bench-models"))
PYTHON = os.environ.get("TFSTUDIO_BENCH_PYTHON", sys.executable)


def mobilenet_models() -> Dict[str, Path]:
    """Returns {"float32": path, "int8": path}, converting on first use."""
    paths = {mode: CACHE / f"mobilenet_v2_224.{mode}.tflite" for mode in ("float32", "int8")}
    if all(p.exists() for p in paths.values()):
        return paths
    CACHE.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(20):
            yield [rng.uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)]

    for mode, path in paths.items():
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if mode == "int8":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = representative
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        tmp = path.with_suffix(".part")
        tmp.write_bytes(conv.convert())
        os.replace(tmp, path)
    return paths


def agent_bench(model: Path, threads: int, extra: List[str] | None = None) -> Dict[str, Any]:
    """Runs `python -m edge_agent bench` on `model` in a fresh process; returns its report."""
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as home:
        cmd = [PYTHON, "-m", "edge_agent", "--home", home, "bench", "--model", str(model),
               "--threads", str(threads), "--json", *(extra or [])]  # fmt: skip
        out = subprocess.run(
            cmd, capture_output=True, text=True, check=True, cwd=str(REPO),
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


BARE_LOOP = r"""
import json, sys, time
import numpy as np
from ai_edge_litert.interpreter import Interpreter
path, threads = sys.argv[1], int(sys.argv[2])
interp = Interpreter(model_path=path, num_threads=threads)
interp.allocate_tensors()
d = interp.get_input_details()[0]
rng = np.random.default_rng(0)
if np.issubdtype(d["dtype"], np.integer):
    x = rng.integers(-128, 128, size=d["shape"]).astype(d["dtype"])
else:
    x = rng.uniform(-1, 1, size=d["shape"]).astype(d["dtype"])
interp.set_tensor(d["index"], x)
invoke, clock = interp.invoke, time.perf_counter_ns
invoke()
start = clock()
n = 0
while n < 10 or clock() - start < 0.5e9:   # same warmup as the agent's defaults
    invoke(); n += 1
times = []
start = clock()
while len(times) < 100 or clock() - start < 1e9:   # same steady state as the agent's
    t0 = clock(); invoke(); times.append(clock() - t0)
times.sort()
print(json.dumps({"p50_ms": times[(len(times) + 1) // 2 - 1] / 1e6, "runs": len(times)}))
"""


def bare_bench(model: Path, threads: int) -> Dict[str, Any]:
    """Runs a bare `interpreter.invoke()` loop in a fresh process; returns {"p50_ms","runs"}."""
    out = subprocess.run(
        [PYTHON, "-c", BARE_LOOP, str(model), str(threads)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def median(values: List[float]) -> float:
    """The median of a non-empty list."""
    return float(statistics.median(values))
