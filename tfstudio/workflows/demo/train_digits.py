"""The demo's training script: the digits CNN, trained and exported as a SavedModel.

This one file is both imported by the studio (in-process training) and copied
into a training container's workspace and run there as `python
train_digits.py DATA.npz EXPORT_DIR` (container training), so the two paths
train the same network the same way. It must therefore import nothing from
tfstudio, and only numpy and keras, inside the functions that need them.
"""

from __future__ import annotations

import sys
from typing import Any

SEED = 0
EPOCHS = 12
BATCH = 32


def build_model() -> Any:
    """Returns the untrained digits CNN: (8, 8, 1) images in, 10 softmax scores out."""
    import keras

    layers = keras.layers
    return keras.Sequential(
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


def train(x: Any, y: Any, *, epochs: int = EPOCHS, seed: int = SEED, callbacks: Any = None) -> Any:
    """Returns the CNN trained on images `x` (N, 8, 8, 1) in [0, 1] and labels `y`
    (`callbacks`: Keras callbacks, e.g. one that stops the training early)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        # Many small batches: running 32 steps per call cuts Keras' per-step
        # overhead, which dominates this tiny model's training time (~2x faster).
        steps_per_execution=32,
    )
    model.fit(x, y, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=callbacks)
    return model


def main(argv: list[str]) -> int:
    """`train_digits.py DATA.npz EXPORT_DIR [EPOCHS]`: train on `x`/`y`, export, report."""
    import numpy as np

    if len(argv) not in (2, 3):
        print("usage: train_digits.py DATA.npz EXPORT_DIR [EPOCHS]", file=sys.stderr)
        return 2
    data = np.load(argv[0])
    epochs = int(argv[2]) if len(argv) == 3 else EPOCHS
    print(f"training the digits CNN on {len(data['y'])} images ({epochs} epochs)", flush=True)
    model = train(data["x"], data["y"], epochs=epochs)
    if "x_test" in data:
        probs = np.asarray(model(data["x_test"], training=False))
        accuracy = float(np.mean(probs.argmax(axis=1) == data["y_test"]))
        print(f"test accuracy {accuracy:.4f}", flush=True)
    model.export(argv[1], verbose=False)
    print(f"exported {argv[1]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
