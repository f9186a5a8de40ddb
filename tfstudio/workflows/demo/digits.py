"""The demo's data: scikit-learn's digits, split, and written as the files each stage reads.

`load_digits()` ships inside scikit-learn, so nothing is downloaded. The
training split feeds the training (in this process or in a container) and the
int8 calibration; the held-out split is the eval data every variant is scored
on. Each file is written atomically next to the demo's models, so every
number in the demo's table can be reproduced with `tfstudio convert`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfstudio.atomic import write_bytes_atomic

SEED = 0
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
class DigitsFiles:
    """The demo's data files: training split (x, y), calibration samples, eval split."""

    train: Path
    rep: Path
    eval: Path


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


def write_files(data: DigitsData, folder: Path) -> DigitsFiles:
    """Writes `digits.train.npz`, `digits.rep.npy` and `digits.eval.npz` into `folder`.

    Returns their paths. Raises OutputError.
    """
    files = DigitsFiles(
        folder / "digits.train.npz", folder / "digits.rep.npy", folder / "digits.eval.npz"
    )
    write_bytes_atomic(
        files.train,
        npz(x=data.x_train, y=data.y_train, x_test=data.x_test, y_test=data.y_test),
    )
    write_bytes_atomic(files.rep, npy(data.x_train[:REP_SAMPLES]))
    write_bytes_atomic(files.eval, npz(x=data.x_test, y=data.y_test))
    return files


def npy(array: np.ndarray) -> bytes:
    """Returns `array` as the bytes of a .npy file (no pickles)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npz(**arrays: np.ndarray) -> bytes:
    """Returns `arrays` as the bytes of an .npz file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()
