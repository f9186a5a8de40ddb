"""Generated models that several test areas share, from the on-disk model cache.

- `tiny_models`: a small Keras MLP converted with TensorFlow directly (not through the
  convert core) into float32, dynamic-range, float16 and int8 `.tflite` files; the
  agent, fleet and UI tests run them. Read from the cache, they need no TensorFlow.
- `serving_models`: the small models of the TF Serving tests (two outputs, string
  inputs, the named inputs of TF Serving's REST examples), from the cache too.
- `mlp`: a small dense model saved as .h5 and as a SavedModel, with data, and
  `recurrent`: LSTM and GRU text classifiers with token data. Both are models to
  convert: they depend on `tensorflow_child` (the full tier).

Each builder writes into an empty folder; tests/helpers/model_cache.py keys it by
the builder's source (and the helpers it names), the package versions and the seed,
and builds it once per machine. Every session gets its own copy of an entry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import model_cache, tflite_modes
from tests.helpers import serving_models as serving_models_module


def build_tiny_models(out: Path) -> None:
    """MLP (64 -> 32 -> 10, softmax) as `mlp.<mode>.tflite` in the four modes."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(16):
            yield [rng.random((1, 64), dtype=np.float32)]

    tflite_modes.convert_modes(model, rep, out, "mlp")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """MLP (64 → 32 → 10, softmax) as .tflite in four modes: {mode: path}."""
    root, _ = model_cache.cached_copy(
        "tiny-models", build_tiny_models, tmp_path_factory.mktemp("tiny-models"),
        sources=[tflite_modes],
    )  # fmt: skip
    return {mode: root / f"mlp.{mode}.tflite" for mode in tflite_modes.MODES}


@dataclass(frozen=True)
class MlpFiles:
    h5: Path
    saved_model: Path
    rep_npz: Path
    eval_npz: Path


def build_mlp(root: Path) -> None:
    """A dense model (20 features -> 256 -> 128 -> 4) as mlp.h5 and mlp_sm/, with data."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((20,), name="features"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.save(root / "mlp.h5")
    model.export(str(root / "mlp_sm"), verbose=False)
    rng = np.random.default_rng(1)
    np.savez(root / "rep.npz", x=rng.normal(size=(64, 20)).astype(np.float32))
    np.savez(root / "eval.npz", x=rng.normal(size=(50, 20)).astype(np.float32))


@pytest.fixture(scope="session")
def mlp(tmp_path_factory: pytest.TempPathFactory, tensorflow_child: None) -> MlpFiles:
    """The dense model to convert (.h5 and SavedModel), rep and eval data."""
    root, _ = model_cache.cached_copy("mlp", build_mlp, tmp_path_factory.mktemp("mlp"))
    return MlpFiles(root / "mlp.h5", root / "mlp_sm", root / "rep.npz", root / "eval.npz")


@dataclass(frozen=True)
class RecurrentFiles:
    lstm: Path
    gru: Path
    tokens: Path


def build_recurrent(root: Path) -> None:
    """lstm.keras and gru.keras (int32 tokens -> embedding -> LSTM/GRU -> 3 classes),
    and tokens.npz (24 rows of 12 tokens, with labels)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    for seed, layer in enumerate((keras.layers.LSTM, keras.layers.GRU)):
        keras.utils.set_random_seed(8 + seed)
        inp = keras.Input((12,), name="tokens", dtype="int32")
        h = layer(16)(keras.layers.Embedding(50, 8)(inp))
        model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))
        model.save(root / f"{layer.__name__.lower()}.keras")
    rng = np.random.default_rng(8)
    np.savez(
        root / "tokens.npz",
        x=rng.integers(0, 50, size=(24, 12)).astype(np.int32),
        y=rng.integers(0, 3, size=24),
    )


@pytest.fixture(scope="session")
def recurrent(tmp_path_factory: pytest.TempPathFactory, tensorflow_child: None) -> RecurrentFiles:
    """Small text classifiers to convert (LSTM and GRU, .keras) and their token data."""
    root, _ = model_cache.cached_copy(
        "recurrent", build_recurrent, tmp_path_factory.mktemp("recurrent")
    )
    return RecurrentFiles(root / "lstm.keras", root / "gru.keras", root / "tokens.npz")


def build_serving(out: Path) -> None:
    """tests/helpers/serving_models.py's models, one `NAME.tflite` each."""
    serving_models_module.build_serving_models(out)


@pytest.fixture(scope="session")
def serving_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{name: path} of tests/helpers/serving_models.py's models (the TF Serving tests)."""
    root, _ = model_cache.cached_copy(
        "serving-models", build_serving, tmp_path_factory.mktemp("serving-models"),
        sources=[serving_models_module],
    )  # fmt: skip
    return {path.stem: path for path in sorted(root.glob("*.tflite"))}
