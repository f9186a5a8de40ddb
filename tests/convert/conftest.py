"""Session fixtures for the conversion tests: real models, trained or built once.

- `demo`: the demo's digits CNN (`tfstudio.workflows.demo.train_digits`) trained, saved as
  .keras with representative data (training split) and labelled eval data
  (held-out split), and converted in every mode.
- `digits` (those files) and `digits_all` (that conversion): most mode-level
  tests read this one result instead of converting again.
- `mlp`: a small dense model saved as .h5 and as a SavedModel.
- `mobilenet`: MobileNetV2 (weights=None, 96x96, alpha 0.35) as a SavedModel,
  for a realistic graph; `mobilenet_all`: it converted once (float32, int8, int16x8).
- `heads` (one input, three outputs), `two_inputs` (two inputs, one output):
  Keras models whose outputs and data must be matched by name.
- `recurrent`: LSTM and GRU text classifiers (int32 tokens) with token data.
- `mobilenet_v3`: MobileNetV3Small (weights=None), whose HARD_SWISH has no 16x8 kernel.

`mlp` and `recurrent` are the session's (tests/plugins/models.py: the UI and facade
tests convert them too). The source models and their data are built once per
machine (tests/helpers/model_cache.py); every conversion here is real and runs each
session. Every fixture that hands out a model to convert, or converts, depends on
`tensorflow_child`, which puts its tests in the full tier (tests/plugins/tiers.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import edge_models as edge_models_module
from tests.helpers import model_cache
from tests.plugins.models import RecurrentFiles

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class DigitsFiles:
    model: Path
    rep: Path
    eval: Path
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class DigitsDemo:
    """The demo's CNN trained here, saved as .keras, and its conversion in every mode."""

    conversion: object
    model_path: Path
    keras_test_accuracy: float


def build_digits_cnn(root: Path) -> None:
    """The demo's CNN trained on the demo's data, saved as digits.keras beside the data
    files the demo writes (train, rep, eval), and its held-out accuracy as info."""
    from tfstudio.workflows.demo.digits import load_digits_split, write_files
    from tfstudio.workflows.demo.train_digits import train

    data = load_digits_split()
    model = train(data.x_train, data.y_train)
    probs = np.asarray(model(data.x_test, training=False))
    accuracy = float(np.mean(probs.argmax(axis=1) == data.y_test))
    model.save(root / "digits.keras")
    write_files(data, root)
    model_cache.write_info(root, accuracy=accuracy)


@pytest.fixture(scope="session")
def digits_cnn(
    tmp_path_factory: pytest.TempPathFactory, tensorflow_child: None
) -> tuple[Path, float]:
    """The demo's folder for this session: the trained CNN and its data (a copy of the
    cache entry), and its Keras test accuracy. `demo` converts into it."""
    root, info = model_cache.cached_copy(
        "digits-cnn", build_digits_cnn, tmp_path_factory.mktemp("demo"),
        packages=["scikit-learn"],
        sources=["tfstudio.workflows.demo.digits", "tfstudio.workflows.demo.train_digits"],
    )  # fmt: skip
    return root, info["accuracy"]


@pytest.fixture(scope="session")
def demo(digits_cnn: tuple[Path, float]):
    """The demo's network and data (trained once per machine, saved as .keras), converted
    here in every mode with rep and eval data, and the progress events the conversion
    emitted."""
    from tfstudio.convert import convert
    from tfstudio.workflows.demo.digits import DigitsFiles as DemoFiles

    root, accuracy = digits_cnn
    files = DemoFiles(root / "digits.train.npz", root / "digits.rep.npy", root / "digits.eval.npz")
    events: list = []
    conversion = convert(
        root / "digits.keras", root, "all", rep_data=files.rep, eval_data=files.eval,
        on_event=events.append,
    )  # fmt: skip
    return DigitsDemo(conversion, root / "digits.keras", accuracy), events


@pytest.fixture(scope="session")
def digits(digits_cnn: tuple[Path, float]) -> DigitsFiles:
    """The demo's trained CNN (.keras) and its rep and eval data, to convert: the very
    files `demo` converts (no conversion is made for this fixture)."""
    from tfstudio.workflows.demo.digits import load_digits_split

    root, _ = digits_cnn
    data = load_digits_split()
    return DigitsFiles(
        root / "digits.keras", root / "digits.rep.npy", root / "digits.eval.npz",
        data.x_test, data.y_test,
    )  # fmt: skip


@pytest.fixture(scope="session")
def digits_all(demo):
    """ConversionResult of the digits CNN in every mode, and the progress events."""
    result, events = demo
    return result.conversion, events


def build_mobilenet(root: Path) -> None:
    import keras

    keras.utils.set_random_seed(2)
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(96, 96, 3), alpha=0.35, classes=10
    )
    model.export(str(root / "mobilenet_v2"), verbose=False)


@pytest.fixture(scope="session")
def mobilenet(tmp_path_factory: pytest.TempPathFactory, tensorflow_child: None) -> Path:
    root, _ = model_cache.cached_copy(
        "mobilenet-v2", build_mobilenet, tmp_path_factory.mktemp("mobilenet")
    )
    return root / "mobilenet_v2"


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


@dataclass(frozen=True)
class HeadsFiles:
    """A one-input model with three heads; `y` are the float model's own 'score' classes."""

    model: Path
    eval: Path
    x: np.ndarray


def build_heads(root: Path) -> None:
    import keras

    keras.utils.set_random_seed(6)
    inp = keras.Input((12,), name="features")
    h = keras.layers.Dense(24, activation="relu")(inp)
    score = keras.layers.Dense(4, activation="softmax", name="score")(h)
    aux = keras.layers.Dense(4, activation="softmax", name="aux")(h)
    box = keras.layers.Dense(6, name="box")(h)
    model = keras.Model(inp, [score, aux, box])
    model.save(root / "heads.keras")
    x = np.random.default_rng(6).normal(size=(60, 12)).astype(np.float32)
    y = np.asarray(model(x)[0]).argmax(axis=1)
    np.savez(root / "eval.npz", x=x, y=y)


@pytest.fixture(scope="session")
def heads(tmp_path_factory: pytest.TempPathFactory, tensorflow_child: None) -> HeadsFiles:
    """Heads 'score' (4 classes), 'aux' (4 classes), 'box' (6 values), in that Keras order.

    Keras names them output_0..2 in the signature, the flatbuffer orders them
    otherwise: a positional match compares the wrong heads (same widths) or
    heads of different widths.
    """
    root, _ = model_cache.cached_copy("heads", build_heads, tmp_path_factory.mktemp("heads"))
    x = np.load(root / "eval.npz")["x"]
    return HeadsFiles(root / "heads.keras", root / "eval.npz", x)


@pytest.fixture(scope="session")
def heads_converted(heads: HeadsFiles, tmp_path_factory: pytest.TempPathFactory):
    """The three-head model in float32, dynamic and float16, scored on its eval data."""
    from tfstudio.convert import convert

    out = tmp_path_factory.mktemp("heads-converted")
    return convert(heads.model, out, "float32,dynamic,float16", eval_data=heads.eval)


@dataclass(frozen=True)
class TwoInputFiles:
    model: Path
    data: Path


def build_two_inputs(root: Path) -> None:
    import keras

    keras.utils.set_random_seed(7)
    zeta, alpha = keras.Input((6,), name="zeta"), keras.Input((4,), name="alpha")
    h = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([zeta, alpha]))
    model = keras.Model([zeta, alpha], keras.layers.Dense(3, activation="softmax")(h))
    model.save(root / "two.keras")
    rng = np.random.default_rng(7)
    z = rng.normal(size=(80, 6)).astype(np.float32)
    a = rng.normal(size=(80, 4)).astype(np.float32)
    y = np.asarray(model([z, a])).argmax(axis=1)
    np.savez(root / "data.npz", zeta=z, alpha=a, y=y)


@pytest.fixture(scope="session")
def two_inputs(tmp_path_factory: pytest.TempPathFactory, tensorflow_child: None) -> TwoInputFiles:
    """A model with inputs 'zeta' (6) and 'alpha' (4) and one 3-class head; data as .npz
    with one array per input name and labels `y`."""
    root, _ = model_cache.cached_copy(
        "two-inputs", build_two_inputs, tmp_path_factory.mktemp("two-inputs")
    )
    return TwoInputFiles(root / "two.keras", root / "data.npz")


@pytest.fixture(scope="session")
def lstm_fixed(recurrent: RecurrentFiles, tmp_path_factory: pytest.TempPathFactory):
    """The LSTM with --fixed-batch 5 in float32, dynamic and float16, scored on its 24
    token rows (so the last eval batch of 4 is padded to 5)."""
    from tfstudio.convert import convert

    out = tmp_path_factory.mktemp("lstm-fixed")
    return convert(
        recurrent.lstm, out, "float32,dynamic,float16", eval_data=recurrent.tokens, fixed_batch=5
    )


@pytest.fixture(scope="session")
def mobilenet_all(mobilenet: Path, image_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The MobileNetV2 SavedModel in float32, int8 and int16x8 (image-directory rep data).

    int16x8 fails, for real: this untrained model's depthwise scales overflow
    int16x8, so LiteRT refuses to prepare that model. The result of the other
    modes is returned (its `failures` holds int16x8). (The digits CNN covers
    every mode; this adds a realistic op set.)
    """
    from tfstudio.convert import ModesFailedError, convert

    out = tmp_path_factory.mktemp("mobilenet-all")
    try:
        return convert(mobilenet, out, "float32,int8,int16x8", rep_data=image_dir)
    except ModesFailedError as exc:
        assert [f.mode for f in exc.result.failures] == ["int16x8"], exc
        return exc.result


def build_mobilenet_v3(root: Path) -> None:
    import keras

    keras.utils.set_random_seed(9)
    model = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(64, 64, 3), classes=10, include_preprocessing=False
    )
    model.export(str(root / "mobilenet_v3"), verbose=False)
    np.save(root / "rep.npy", np.random.default_rng(9).random((4, 64, 64, 3), dtype=np.float32))


@pytest.fixture(scope="session")
def mobilenet_v3(
    tmp_path_factory: pytest.TempPathFactory, tensorflow_child: None
) -> tuple[Path, Path]:
    """MobileNetV3Small (weights=None, 64x64, 10 classes) as a SavedModel: its HARD_SWISH
    has no 16x8 kernel. Returns (model, representative .npy)."""
    root, _ = model_cache.cached_copy(
        "mobilenet-v3", build_mobilenet_v3, tmp_path_factory.mktemp("mobilenet-v3")
    )
    return root / "mobilenet_v3", root / "rep.npy"


EDGE_MODELS = (
    "two_signatures",
    "string_input",
    "flex_only",
    "squared_difference",
    "slow_to_convert",
)


def build_edge(root: Path) -> None:
    """tests/helpers/edge_models.py's SavedModels, with their data in `data/`."""
    edge_models_module.build_edge_models(root)


@pytest.fixture(scope="session")
def edge_models(
    tmp_path_factory: pytest.TempPathFactory, tensorflow_child: None
) -> dict[str, Path]:
    """tests/helpers/edge_models.py's SavedModels ({name: dir}, and 'data': their data)."""
    root, _ = model_cache.cached_copy(
        "edge-models", build_edge, tmp_path_factory.mktemp("edge-models"),
        sources=[edge_models_module],
    )  # fmt: skip
    return {**{name: root / name for name in EDGE_MODELS}, "data": root / "data"}
