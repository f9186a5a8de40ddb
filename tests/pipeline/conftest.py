"""Fixtures for the watch pipeline tests: a small real SavedModel and its data.

`small_model` is a Keras MLP exported once per machine (the model cache); `place()` copies it
into a watched folder the way a finished training job leaves it
(`exports/<name>/<version>/`), atomically (copied aside, then renamed), so a
test decides when an export appears and whether it is whole.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from tests.helpers import model_cache

FAST_BENCH = ["--runs", "5", "--warmup", "1", "--min-seconds", "0", "--warmup-min-seconds", "0"]


@dataclass(frozen=True)
class SmallModel:
    """A SavedModel (20 floats in, 4 classes out) with rep and eval data."""

    saved_model: Path
    rep: Path
    eval: Path


def build_small_model(root: Path) -> None:
    """A Keras MLP (20 -> 16 -> 4) exported as the SavedModel sm/, with rep and eval data."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.export(str(root / "sm"), verbose=False)
    rng = np.random.default_rng(1)
    np.savez(root / "rep.npz", x=rng.normal(size=(32, 20)).astype(np.float32))
    np.savez(
        root / "eval.npz",
        x=rng.normal(size=(40, 20)).astype(np.float32),
        y=rng.integers(0, 4, 40),
    )


@pytest.fixture(scope="session")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> SmallModel:
    """The SavedModel and its data (from the model cache: no TensorFlow is needed to get
    it; a test that has the watcher convert it asks for `tensorflow_child` too)."""
    root, _ = model_cache.cached_copy(
        "pipeline-model", build_small_model, tmp_path_factory.mktemp("pipeline-model")
    )
    return SmallModel(root / "sm", root / "rep.npz", root / "eval.npz")


def place(source: Path, workspace: Path, name: str, version: str = "1") -> Path:
    """Copies a SavedModel to workspace/exports/<name>/<version> in one rename; returns it."""
    target = workspace / "exports" / name / version
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{version}.copying"
    shutil.copytree(source, staging)
    os.replace(staging, target)
    return target


def half_written(workspace: Path, name: str, source: Path) -> Path:
    """Leaves an export as a job killed mid-save does: the .pb and no variables/."""
    target = workspace / "exports" / name / "1"
    target.mkdir(parents=True)
    shutil.copy(source / "saved_model.pb", target / "saved_model.pb")
    return target


def tfstudio_cmd(*argv: str) -> list[str]:
    """The argv that runs the real CLI in a fresh process."""
    return [sys.executable, "-m", "tfstudio", *argv]


def run_cli(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Runs the real CLI to its end and returns it."""
    return subprocess.run(
        tfstudio_cmd(*argv), capture_output=True, text=True, cwd=REPO, timeout=timeout
    )
