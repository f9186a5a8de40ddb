"""Shared set-up for the fleet benchmarks: loopback sshd servers as root, trusted.

Imports the test helper that starts real sshd processes; run the benchmarks
from the repository root with the studio venv (`.venv/bin/python scripts/bench/...`).
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TFSTUDIO_HOME", tempfile.mkdtemp(prefix="tfstudio-bench-"))

import paramiko  # noqa: E402

from tests.helpers.sshd import SshdFactory, SshdServer  # noqa: E402
from tfstudio.fleet import hostkeys  # noqa: E402


def trust(server: SshdServer) -> None:
    """Records the server's host key in the benchmark's TFSTUDIO_HOME."""
    key_type, data = server.host_pub_line.split()
    key = paramiko.PKey.from_type_string(key_type, base64.b64decode(data))
    hostkeys.record("127.0.0.1", server.port, key)


__all__ = ["REPO", "SshdFactory", "SshdServer", "trust"]


def make_mlp(path: Path, hidden: int) -> Path:
    """Converts a Keras MLP (64 -> hidden -> 10) to .tflite at `path`, quietly."""
    import contextlib
    import io

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(hidden, activation="relu"), keras.layers.Dense(10)]
    )
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints its export summary
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


BIG_CACHE = Path(os.environ.get("TFSTUDIO_BENCH_CACHE", "/tmp/tfstudio-bench-models"))


def make_big_mlp(mb: int) -> Path:
    """Returns a float32 MLP of about `mb` MB (64 -> h -> h -> 10), converted once and cached.

    Two h x h-ish layers hold the weights, so the model is what a 200 MB model
    is to the runtime: one big flatbuffer whose load the runtime memory-maps.
    """
    import math

    path = BIG_CACHE / f"mlp_{mb}mb.tflite"
    if path.exists():
        return path
    BIG_CACHE.mkdir(parents=True, exist_ok=True)
    hidden = int(math.sqrt(mb * (1 << 20) / 4))
    tmp = make_mlp_layers(path.with_suffix(".part"), [hidden, hidden])
    os.replace(tmp, path)
    return path


def make_mlp_layers(path: Path, widths: list[int]) -> Path:
    """Converts a Keras MLP (64 -> widths... -> 10, relu) to .tflite at `path`, quietly."""
    import contextlib
    import io

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    layers = [keras.Input((64,))]
    layers += [keras.layers.Dense(w, activation="relu") for w in widths]
    model = keras.Sequential([*layers, keras.layers.Dense(10)])
    with contextlib.redirect_stdout(io.StringIO()):
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path
