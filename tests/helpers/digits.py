"""A small real digits classifier for accuracy tests: scikit-learn's `load_digits` (it ships
inside the package, nothing is downloaded), an MLP trained in seconds, and its TFLite variants.

The 1,797 images are split 75/25 (stratified, fixed seed), so the eval set is 450 samples,
as in the demo. Variants: float32, dynamic-range, float16 and int8 (int8 in and out).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.helpers import model_cache
from tests.helpers.tflite_modes import MODES, convert_modes


@dataclass(frozen=True)
class Digits:
    """The trained model's variants, its eval data and the float model's test accuracy."""

    models: dict[str, Path]
    eval_npz: Path
    unlabelled_npz: Path
    x_test: np.ndarray
    y_test: np.ndarray
    keras_accuracy: float


def build_digits(out: Path) -> Digits:
    """Trains the MLP and converts it; writes everything under `out`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=25, batch_size=32, verbose=0)
    keras_accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == y_test))

    def rep():
        for i in range(100):
            yield [x_train[i : i + 1]]

    models = convert_modes(model, rep, out, "digits")
    eval_npz = out / "digits.eval.npz"
    np.savez(eval_npz, x=x_test, y=y_test)
    unlabelled = out / "digits.unlabelled.npz"
    np.savez(unlabelled, x=x_test)
    model_cache.write_info(out, keras_accuracy=keras_accuracy)
    return Digits(models, eval_npz, unlabelled, x_test, y_test, keras_accuracy)


def load_digits(out: Path, keras_accuracy: float) -> Digits:
    """The `Digits` that `build_digits()` wrote into `out` (a copy of its cache entry)."""
    eval_npz = out / "digits.eval.npz"
    data = np.load(eval_npz)
    return Digits(
        {mode: out / f"digits.{mode}.tflite" for mode in MODES},
        eval_npz,
        out / "digits.unlabelled.npz",
        data["x"],
        data["y"],
        keras_accuracy,
    )


def write_manifest(model: Path, accuracy: float, samples: int) -> Path:
    """Writes a minimal convert manifest beside `model` with its host accuracy (`metrics`)."""
    import hashlib

    path = model.with_suffix(".json")
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    manifest = {
        "format": "tfstudio.manifest/1",
        "model": {"path": model.name, "sha256": sha, "size_bytes": model.stat().st_size},
        "metrics": {"samples": samples, "accuracy": accuracy},
        "chain": [],
    }
    path.write_text(json.dumps(manifest))
    return path
