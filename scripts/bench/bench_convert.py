"""Benchmark: `tfstudio convert` (CLI + its conversion worker process) vs a plain converter script.

Both sides are whole processes, process start and `import tensorflow`
included, converting the same MobileNetV2 (.keras, weights=None) and writing
the .tflite: the anchor is a plain script around `tf.lite.TFLiteConverter`,
ours is `python -m tfstudio convert`, whose CLI process never imports
TensorFlow and spawns a fresh worker process that does. tfstudio also hashes
the source, checks the data, verifies the model against its mode, loads it in
LiteRT and writes a manifest. Rounds alternate the order so machine load hits
both alike. Prints min and median seconds and the ratio tfstudio/plain per
mode (goal: <= 1.1x).

    .venv/bin/python scripts/bench/bench_convert.py [--rounds 3] [--size 224] [--modes float32,int8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]

PLAIN = """\
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import keras
import tensorflow as tf

source, mode, rep, out = sys.argv[1:5]
model = keras.models.load_model(source, compile=False)
converter = tf.lite.TFLiteConverter.from_keras_model(model)
if mode == "int8":
    samples = np.load(rep)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    converter.representative_dataset = lambda: ([samples[i : i + 1]] for i in range(len(samples)))
with open(out, "wb") as handle:
    handle.write(converter.convert())
"""


def plain(work: Path, source: Path, mode: str, rep: Path) -> list[str]:
    script = work / "plain_convert.py"
    if not script.exists():
        script.write_text(PLAIN)
    return [
        sys.executable,
        str(script),
        str(source),
        mode,
        str(rep),
        str(work / f"plain.{mode}.tflite"),
    ]


def tfstudio(work: Path, source: Path, mode: str, rep: Path) -> list[str]:
    args = [sys.executable, "-m", "tfstudio", "convert", str(source), "-o", str(work / "out")]
    return [*args, "--quant", mode, *(["--rep-data", str(rep)] if mode == "int8" else [])]


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv[1]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--modes", default="float32,int8")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-convert-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(args.size, args.size, 3))
    source = work / "mobilenet_v2.keras"
    model.save(source)
    rep = work / "rep.npy"
    np.save(
        rep, np.random.default_rng(0).random((args.samples, args.size, args.size, 3), np.float32)
    )
    modes = args.modes.split(",")
    print(
        f"MobileNetV2 {args.size}x{args.size} (weights=None) from .keras, {args.samples} rep "
        f"samples, {args.rounds} rounds, TF {tf.__version__}, {os.cpu_count()} CPUs"
    )
    times: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        for mode in modes:
            order = ("plain", "tfstudio") if round_ % 2 == 0 else ("tfstudio", "plain")
            for who in order:
                argv = (plain if who == "plain" else tfstudio)(work, source, mode, rep)
                elapsed = timed(argv)
                times.setdefault((mode, who), []).append(elapsed)
                print(f"  round {round_ + 1} {mode:8s} {who:9s} {elapsed:6.2f} s", flush=True)
    print()
    # The minimum is the run least disturbed by other load on the machine; the
    # median is shown too so that noise is visible.
    print(f"{'mode':8s} {'plain min/med (s)':>18s} {'tfstudio min/med (s)':>21s} "
          f"{'ratio min':>10s} {'ratio med':>10s}")  # fmt: skip
    for mode in modes:
        base, ours = times[(mode, "plain")], times[(mode, "tfstudio")]
        base_med, ours_med = statistics.median(base), statistics.median(ours)
        print(
            f"{mode:8s} {min(base):8.2f}/{base_med:<8.2f} {min(ours):12.2f}/{ours_med:<8.2f} "
            f"{min(ours) / min(base):9.2f}x {ours_med / base_med:9.2f}x"
        )


if __name__ == "__main__":
    main()
