"""A tiny real training job for the TensorFlow image: data into a workspace, and its train.py.

The data is scikit-learn's bundled digits (no download); the script trains a
small MLP for a few epochs inside the container and exports a SavedModel to
`exports/digits`. Shared by the local and the ssh:// engine tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TRAIN_PY = """\
import numpy as np
import keras

data = np.load("data/digits.npz")
x, y = data["x"].astype("float32"), data["y"]
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, epochs=EPOCHS, batch_size=64, verbose=2)
print("final accuracy", round(float(history.history["accuracy"][-1]), 3), flush=True)
model.export("EXPORT", verbose=False)
print("exported EXPORT", flush=True)
"""


def prepare_workspace(workspace: Path, export: str = "exports/digits", epochs: int = 4) -> Path:
    """Writes data/digits.npz and train.py (exporting to `export`) into `workspace`."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    (workspace / "data").mkdir(parents=True, exist_ok=True)
    np.savez(workspace / "data" / "digits.npz", x=digits.data / 16.0, y=digits.target)
    script = TRAIN_PY.replace("EPOCHS", str(epochs)).replace("EXPORT", export)
    (workspace / "train.py").write_text(script)
    return workspace
