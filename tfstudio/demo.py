"""The demo: train a small CNN on scikit-learn's digits, convert it in every mode, score it.

Everything runs locally and needs no download: `load_digits()` ships inside
scikit-learn. The trained model, the representative data and the held-out
eval data are written next to the converted models, so every number in the
table can be reproduced with `tfstudio convert`.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfstudio.atomic import write_bytes_atomic
from tfstudio.convert import CancelFlag, ConversionResult, convert
from tfstudio.convert.events import ProgressEvent
from tfstudio.errors import OutputError

SEED = 0
EPOCHS = 12
TEST_FRACTION = 0.25
REP_SAMPLES = 200
"""Calibration samples taken from the training split (never from the eval split)."""


@dataclass(frozen=True)
class DigitsData:
    """The digits images as (N, 8, 8, 1) float32 in [0, 1], split into train and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class DemoResult:
    """The demo's outcome: the conversion, plus how the Keras model was trained."""

    conversion: ConversionResult
    model_path: Path
    keras_test_accuracy: float
    train_seconds: float

    def to_json(self) -> dict[str, Any]:
        """Returns the conversion's JSON plus a `training` object."""
        out = self.conversion.to_json()
        out["training"] = {
            "model": str(self.model_path),
            "keras_test_accuracy": self.keras_test_accuracy,
            "seconds": round(self.train_seconds, 2),
            "epochs": EPOCHS,
        }
        return out


def load_digits_split(seed: int = SEED) -> DigitsData:
    """Returns scikit-learn's digits, scaled to [0, 1] and split (stratified, fixed seed).

    Raises MissingExtraError when scikit-learn is not installed.
    """
    from tfstudio.extras import require

    datasets = require("sklearn.datasets", "convert")
    model_selection = require("sklearn.model_selection", "convert")
    digits = datasets.load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=seed, stratify=y
    )
    return DigitsData(x_train, y_train, x_test, y_test)


def train_digits_cnn(data: DigitsData, seed: int = SEED, epochs: int = EPOCHS) -> Any:
    """Returns a small Keras CNN trained on `data` (~98% test accuracy, seconds on a CPU).

    Raises MissingExtraError when tensorflow is not installed.
    """
    from tfstudio.extras import require, tensorflow

    tensorflow()
    keras = require("keras", "convert")
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1), name="image"),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ],
        name="digits_cnn",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # Many small batches: running 32 steps per call cuts Keras' per-step
        # overhead, which dominates this tiny model's training time (~2x faster).
        steps_per_execution=32,
    )
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=32, verbose=0)
    return model


def run_demo(
    outdir: Path,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelFlag | None = None,
) -> DemoResult:
    """Trains the digits CNN, saves it, converts it in every mode with eval data.

    Returns a DemoResult. Raises MissingExtraError, OutputError, ConversionError,
    CancelledError.
    """
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create demo directory {outdir}: {exc.strerror}") from exc
    data = load_digits_split()
    from tfstudio.extras import tensorflow

    tensorflow()  # imported first, so the training time below is only training
    started = time.perf_counter()
    model = train_digits_cnn(data)
    train_seconds = time.perf_counter() - started
    probs = np.asarray(model(data.x_test, training=False))
    keras_accuracy = float(np.mean(probs.argmax(axis=1) == data.y_test))

    model_path = outdir / "digits.keras"
    _save_keras(model, model_path)
    rep_path = outdir / "digits.rep.npy"
    eval_path = outdir / "digits.eval.npz"
    write_bytes_atomic(rep_path, _npy(data.x_train[:REP_SAMPLES]))
    write_bytes_atomic(eval_path, _npz(x=data.x_test, y=data.y_test))
    result = convert(
        model_path,
        outdir,
        "all",
        rep_data=rep_path,
        eval_data=eval_path,
        progress=progress,
        cancel=cancel,
    )
    return DemoResult(result, model_path, keras_accuracy, train_seconds)


def _save_keras(model: Any, path: Path) -> None:
    # Keras writes the zip itself; save beside the target and rename, so a
    # killed demo never leaves a half-written model at the final name.
    import os
    import tempfile

    from tfstudio.atomic import temp_prefix

    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()
