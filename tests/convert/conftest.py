"""Session fixtures for the conversion tests: real models, trained or built once.

- `demo`: `tfstudio.demo.run_demo` itself: the digits CNN trained, saved as
  .keras with representative data (training split) and labelled eval data
  (held-out split), and converted in every mode.
- `digits` (those files) and `digits_all` (that conversion): most mode-level
  tests read this one result instead of converting again.
- `mlp`: a small dense model saved as .h5 and as a SavedModel.
- `mobilenet`: MobileNetV2 (weights=None, 96x96, alpha 0.35) as a SavedModel,
  for a realistic graph.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class DigitsFiles:
    model: Path
    rep: Path
    eval: Path
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class MlpFiles:
    h5: Path
    saved_model: Path
    rep_npz: Path
    eval_npz: Path


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """The demo's own run (train, save, convert in every mode with rep and eval data)
    and the progress events it emitted."""
    from tfstudio.demo import run_demo

    events: list = []
    result = run_demo(tmp_path_factory.mktemp("demo"), progress=events.append)
    return result, events


@pytest.fixture(scope="session")
def digits(demo) -> DigitsFiles:
    from tfstudio.demo import load_digits_split

    result, _ = demo
    root = result.model_path.parent
    data = load_digits_split()
    return DigitsFiles(
        result.model_path, root / "digits.rep.npy", root / "digits.eval.npz",
        data.x_test, data.y_test,
    )  # fmt: skip


@pytest.fixture(scope="session")
def digits_all(demo):
    """ConversionResult of the digits CNN in every mode, and the progress events."""
    result, events = demo
    return result.conversion, events


@pytest.fixture(scope="session")
def mlp(tmp_path_factory: pytest.TempPathFactory) -> MlpFiles:
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((20,), name="features"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    root = tmp_path_factory.mktemp("mlp")
    h5 = root / "mlp.h5"
    model.save(h5)
    saved = root / "mlp_sm"
    model.export(str(saved), verbose=False)
    rng = np.random.default_rng(1)
    rep = root / "rep.npz"
    np.savez(rep, x=rng.normal(size=(64, 20)).astype(np.float32))
    ev = root / "eval.npz"
    np.savez(ev, x=rng.normal(size=(50, 20)).astype(np.float32))
    return MlpFiles(h5, saved, rep, ev)


@pytest.fixture(scope="session")
def mobilenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    keras.utils.set_random_seed(2)
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(96, 96, 3), alpha=0.35, classes=10
    )
    path = tmp_path_factory.mktemp("mobilenet") / "mobilenet_v2"
    model.export(str(path), verbose=False)
    return path


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve PNG and JPEG images of assorted sizes and colour modes."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(3)
    for i in range(12):
        size = (40 + 10 * i, 30 + 7 * i)
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        image = Image.fromarray(pixels, "RGB")
        if i % 3 == 0:
            image = image.convert("L")
        image.save(root / (f"img{i:02d}.png" if i % 2 else f"img{i:02d}.jpg"))
    (root / "notes.txt").write_text("not an image")
    return root
