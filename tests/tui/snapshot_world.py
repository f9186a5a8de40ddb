"""A fixed studio world for the snapshot tests: the same home, models and history every run.

The models are real `.tflite` files converted by TensorFlow in a fresh
interpreter (`MODEL_SCRIPT`), so that nothing earlier in the test session (Keras
names its tensors with a process-wide counter) changes their bytes; their
manifests and the bench/check history are written here with fixed times and
numbers, so the screens draw the same picture on every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tfstudio.fleet.registry import Device, add_device

SNAPSHOT_HOME = Path("/tmp/tfstudio-snapshot-home")
"""Paths show in some panes, so the home is the same path on every run."""
SNAPSHOT_PYTHON = Path("/tmp/tfstudio-snapshot-python/python")
"""The interpreter the local device shows (`python ...` in the Devices view): a fixed
path that runs this one, so the picture does not depend on where the checkout is."""


def fixed_python() -> str:
    """Writes SNAPSHOT_PYTHON, which runs this interpreter; returns its path."""
    SNAPSHOT_PYTHON.parent.mkdir(parents=True, exist_ok=True)
    script = f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n'
    if not SNAPSHOT_PYTHON.exists() or SNAPSHOT_PYTHON.read_text() != script:
        partial = SNAPSHOT_PYTHON.with_name(f"python.{os.getpid()}")
        partial.write_text(script)
        partial.chmod(0o755)
        partial.replace(SNAPSHOT_PYTHON)
    return str(SNAPSHOT_PYTHON)


MODEL_SCRIPT = """
import sys
from pathlib import Path
import keras, numpy as np, tensorflow as tf
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((64,), name="features"),
    keras.layers.Dense(32, activation="relu", name="hidden"),
    keras.layers.Dense(10, activation="softmax", name="scores"),
], name="mlp")
def rep():
    rng = np.random.default_rng(0)
    for _ in range(16):
        yield [rng.random((1, 64), dtype=np.float32)]
for mode in ("float32", "dynamic", "float16", "int8"):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    (Path(sys.argv[1]) / f"mlp.{mode}.tflite").write_bytes(conv.convert())
"""
"""Converts a small named MLP in four modes into the folder given as argv[1]."""


def make_models(folder: Path) -> dict[str, Path]:
    """Runs MODEL_SCRIPT in a fresh interpreter; returns {mode: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", MODEL_SCRIPT, str(folder)],
        check=True,
        capture_output=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=600,
    )
    return {mode: folder / f"mlp.{mode}.tflite" for mode in METRICS}


METRICS = {
    "float32": {"top1_agreement": 1.0, "max_abs_error": 0.0},
    "dynamic": {"top1_agreement": 0.98, "max_abs_error": 0.0123},
    "float16": {"top1_agreement": 1.0, "max_abs_error": 0.0004},
    "int8": {"top1_agreement": 0.96, "max_abs_error": 0.0311},
}
SECONDS = {"float32": 1.4, "dynamic": 1.9, "float16": 1.7, "int8": 2.2}


def build(models: dict[str, Path]) -> Path:
    """Recreates SNAPSHOT_HOME with models, a device and bench history; returns it."""
    shutil.rmtree(SNAPSHOT_HOME, ignore_errors=True)
    outdir = SNAPSHOT_HOME / "models" / "mlp"
    outdir.mkdir(parents=True)
    for mode, src in models.items():
        model = outdir / f"mlp.{mode}.tflite"
        shutil.copy(src, model)
        sha = hashlib.sha256(model.read_bytes()).hexdigest()
        manifest = {
            "model": {"path": model.name, "sha256": sha, "size_bytes": model.stat().st_size},
            "mode": mode,
            "source": {"path": "/data/mlp.keras", "sha256": "0" * 64, "kind": "keras"},
            "created_at": "2026-11-20T10:00:00+00:00",
            "metrics": METRICS[mode],
            "chain": [{"step": "convert", "seconds": SECONDS[mode], "output_sha256": sha}],
        }
        model.with_suffix(".json").write_text(json.dumps(manifest))
    add_device(Device(name="cam1", host="192.0.2.10", port=2222, user="pi", added_at="x"))
    rows = []
    for i, (device, model, p50) in enumerate(
        [
            ("local", "mlp.int8.tflite", 0.021),
            ("local", "mlp.int8.tflite", 0.019),
            ("local", "mlp.int8.tflite", 0.020),
            ("local", "mlp.float32.tflite", 0.034),
            ("cam1", "mlp.int8.tflite", 0.412),
        ]
    ):
        rows.append(
            {
                "time": f"2026-11-20T10:0{i}:00+00:00",
                "device": device,
                "model": model,
                "p50_ms": p50,
                "p90_ms": p50 * 1.2,
                "p99_ms": p50 * 1.9,
                "init_ms": 3.5,
                "first_invoke_ms": p50 * 4,
                "rss_peak_mb": 61.0,
                "runtime": "ai-edge-litert 2.3.0",
            }
        )
    (SNAPSHOT_HOME / "bench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    check = {
        "time": "2026-11-20T10:09:00+00:00",
        "device": "local",
        "reachable": True,
        "agent": "ok",
        "runtime": {"name": "ai-edge-litert", "version": "2.3.0"},
        "active": {"name": "mlp.int8.tflite"},
    }
    (SNAPSHOT_HOME / "checks.jsonl").write_text(json.dumps(check) + "\n")
    # The new-job form shows the default workspace: a fixed path, not the test's cwd.
    (SNAPSHOT_HOME / "tfstudio.toml").write_text('[training]\nworkspace = "/data/work"\n')
    return SNAPSHOT_HOME
