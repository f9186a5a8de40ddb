"""Small SavedModels for the conversion's edge cases, built with TensorFlow directly.

- `two_signatures`: `serving_default` (x: (N, 4) → probs (N, 3)) and `embed_features`
  (f: (N, 4) → emb (N, 5)), saved so that `embed_features` sorts first: it is
  subgraph 0 of a model converted with both.
- `string_input`: `serving_default` takes a string tensor 'text' (StringToNumber).
- `flex_only`: ExtractImagePatches, which TFLite builtins lack ("TF Select ops:").
- `squared_difference`: (a - b)^2 of two inputs, whose int16x8 kernel exists in no
  LiteRT runtime ("SquaredDifference only supports FLOAT32 and INT32").
- `slow_to_convert`: a deep conv stack whose int8 conversion takes seconds, for
  interrupting a conversion midway.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def build_edge_models(root: Path) -> dict[str, Path]:
    """Builds every model above under `root`; returns {name: SavedModel dir}."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    rng = np.random.default_rng(11)

    class TwoSignatures(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(rng.normal(size=(4, 3)).astype(np.float32))
            self.e = tf.Variable(rng.normal(size=(4, 5)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="x")])
        def classify(self, x):  # type: ignore[no-untyped-def]
            return {"probs": tf.nn.softmax(tf.matmul(x, self.w))}

        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="f")])
        def embed(self, f):  # type: ignore[no-untyped-def]
            return {"emb": tf.nn.relu(tf.matmul(f, self.e))}

    class Edge(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="text")])
        def parse(self, text):  # type: ignore[no-untyped-def]
            return {"value": tf.strings.to_number(text)}

        @tf.function(input_signature=[tf.TensorSpec((1, 8, 8, 1), tf.float32, name="img")])
        def patches(self, img):  # type: ignore[no-untyped-def]
            return {
                "p": tf.image.extract_patches(
                    img, [1, 2, 2, 1], [1, 2, 2, 1], [1, 1, 1, 1], "VALID"
                )
            }

        @tf.function(
            input_signature=[
                tf.TensorSpec((None, 8), tf.float32, name="a"),
                tf.TensorSpec((None, 8), tf.float32, name="b"),
            ]
        )
        def sqdiff(self, a, b):  # type: ignore[no-untyped-def]
            return {"d": tf.math.squared_difference(a, b)}

    class Slow(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernels = [
                tf.Variable(rng.normal(0, 0.1, size=(3, 3, 32, 32)).astype(np.float32))
                for _ in range(64)
            ]
            self.first = tf.Variable(rng.normal(0, 0.1, size=(3, 3, 3, 32)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec((1, 64, 64, 3), tf.float32, name="image")])
        def serve(self, image):  # type: ignore[no-untyped-def]
            h = tf.nn.relu(tf.nn.conv2d(image, self.first, 1, "SAME"))
            for kernel in self.kernels:
                h = tf.nn.relu(tf.nn.conv2d(h, kernel, 1, "SAME")) + h
            return {"out": tf.reduce_mean(h, axis=[1, 2])}

    names = ("two_signatures", "string_input", "flex_only", "squared_difference", "slow_to_convert")
    paths = {name: root / name for name in names}
    two = TwoSignatures()
    tf.saved_model.save(
        two,
        str(paths["two_signatures"]),
        signatures={"serving_default": two.classify, "embed_features": two.embed},
    )
    edge = Edge()
    tf.saved_model.save(
        edge, str(paths["string_input"]), signatures={"serving_default": edge.parse}
    )
    tf.saved_model.save(edge, str(paths["flex_only"]), signatures={"serving_default": edge.patches})
    tf.saved_model.save(
        edge, str(paths["squared_difference"]), signatures={"serving_default": edge.sqdiff}
    )
    slow = Slow()
    tf.saved_model.save(
        slow, str(paths["slow_to_convert"]), signatures={"serving_default": slow.serve}
    )
    data = root / "data"
    data.mkdir()
    np.save(data / "x4.npy", rng.normal(size=(32, 4)).astype(np.float32))
    np.savez(data / "ab.npz", a=rng.normal(size=(32, 8)).astype(np.float32),
             b=rng.normal(size=(32, 8)).astype(np.float32))  # fmt: skip
    np.save(data / "image.npy", rng.uniform(size=(32, 64, 64, 3)).astype(np.float32))
    return paths
