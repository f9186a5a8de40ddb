"""Benchmark: `tfstudio convert` (CLI + its conversion worker process) vs a plain converter script.

Both sides are whole processes, process start and `import tensorflow`
included, converting the same MobileNetV2 (.keras, weights=None) and writing
the .tflite: the anchor is a plain script around `tf.lite.TFLiteConverter`,
ours is `python -m tfstudio convert`, whose CLI process never imports
TensorFlow and spawns a fresh worker process that does. tfstudio also hashes
the source, checks the data, verifies the model against its mode, loads it in
LiteRT and writes a manifest. Its worker process exits without TensorFlow's
interpreter teardown (`os._exit` once the result is sent), which the plain
script pays; that is legitimate (the user waits for neither), and said here
so the figure is read rightly. Paired rounds of alternating order
(`paired.py`, at least 7); per mode, the min / median / max of the per-round
ratio tfstudio / plain (goal: <= 1.1x). Quick mode: 3 rounds, MobileNetV2 at
96x96, float32 only.

    .venv/bin/python scripts/bench/bench_convert.py [--size 224] [--modes float32,int8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paired import load, paired_rounds, pick, report, rounds

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
    parser.add_argument("--rounds", type=int, default=rounds(7, 3))
    parser.add_argument("--size", type=int, default=pick(224, 96))
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--modes", default=pick("float32,int8", "float32"))
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
    for mode in modes:
        print(f"{mode}: tfstudio convert vs the plain script ({load()})")
        paired = paired_rounds(
            lambda mode=mode: timed(tfstudio(work, source, mode, rep)),
            lambda mode=mode: timed(plain(work, source, mode, rep)),
            args.rounds,
            names=("tfstudio convert", "plain script"),
        )
        report(
            "convert",
            f"tfstudio convert MobileNetV2 {args.size} {mode}",
            "plain TFLiteConverter script",
            1.1,
            paired,
            note="the worker skips TensorFlow's teardown",
        )


if __name__ == "__main__":
    main()
