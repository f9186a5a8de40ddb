"""Benchmark: raw tf.lite.TFLiteConverter vs the tfstudio conversion core.

Both convert the same MobileNetV2 SavedModel (weights=None) to float32 and to
int8 (same representative samples), alternating raw/tfstudio within each round
so that machine load hits both alike. Both write the model to disk; tfstudio
additionally hashes the source, checks inputs and data, verifies the model
loads in LiteRT and writes a manifest. Prints min and median times and the
ratio tfstudio/raw per mode (goal: <= 1.1x).

    .venv/bin/python scripts/bench/bench_convert.py [--rounds 3] [--size 224] [--alpha 1.0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def raw_convert(tf, saved_model: Path, mode: str, rep: np.ndarray, out: Path) -> None:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if mode == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8

        def representative():
            for i in range(rep.shape[0]):
                yield [rep[i : i + 1]]

        converter.representative_dataset = representative
    out.write_bytes(converter.convert())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from tfstudio.convert import convert

    work = Path(tempfile.mkdtemp(prefix="bench-convert-"))
    try:
        run(args, work, tf, keras, convert)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, tf, keras, convert) -> None:
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(args.size, args.size, 3), alpha=args.alpha
    )
    saved_model = work / "mobilenet_v2"
    model.export(str(saved_model), verbose=False)
    rep = np.random.default_rng(0).random((args.samples, args.size, args.size, 3), np.float32)
    rep_path = work / "rep.npy"
    np.save(rep_path, rep)
    print(
        f"MobileNetV2 {args.size}x{args.size} alpha {args.alpha}, {args.samples} rep samples, "
        f"{args.rounds} rounds, TF {tf.__version__}"
    )

    times: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        for mode in ("float32", "int8"):
            order = ("raw", "tfstudio") if round_ % 2 == 0 else ("tfstudio", "raw")
            for who in order:
                started = time.perf_counter()
                if who == "raw":
                    raw_convert(tf, saved_model, mode, rep, work / f"raw.{mode}.tflite")
                else:
                    convert(saved_model, work / "out", mode, rep_data=rep_path)
                elapsed = time.perf_counter() - started
                times.setdefault((mode, who), []).append(elapsed)
                print(f"  round {round_ + 1} {mode:8s} {who:9s} {elapsed:6.2f} s", flush=True)

    print()
    # The minimum is the run least disturbed by other load on the machine; the
    # median is shown too so that noise is visible.
    print(f"{'mode':8s} {'raw min/med (s)':>16s} {'tfstudio min/med (s)':>21s} {'ratio min':>10s} "
          f"{'ratio med':>10s}")  # fmt: skip
    for mode in ("float32", "int8"):
        raw, ours = times[(mode, "raw")], times[(mode, "tfstudio")]
        raw_min, raw_med = min(raw), statistics.median(raw)
        ours_min, ours_med = min(ours), statistics.median(ours)
        print(
            f"{mode:8s} {raw_min:7.2f}/{raw_med:<8.2f} {ours_min:12.2f}/{ours_med:<8.2f} "
            f"{ours_min / raw_min:9.2f}x {ours_med / raw_med:9.2f}x"
        )


if __name__ == "__main__":
    main()
