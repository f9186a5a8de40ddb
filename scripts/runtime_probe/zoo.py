"""The carrier zoo: one small model per op family, converted in every tfstudio mode.

Each family is a `tf.function` around one TensorFlow op (with constant weights
where the op has them, so the quantizing modes quantize them), converted with
tfstudio's own presets (`tfstudio.convert.presets`, applied by
`tfstudio.convert.engine.apply_preset`), so a zoo model holds exactly the op
versions and tensor types `tfstudio convert` writes for that op. A mode the
converter refuses for a family (no int8 kernel, say) is left out and listed.

    from scripts.runtime_probe.zoo import build_zoo
    models, refused = build_zoo(Path("zoo"), families=["RSQRT", "TILE"])

Needs TensorFlow (the studio's venv); imported by scripts/measure_runtimes.py and
by the tests that hold the measured table to real runtimes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

IMAGE = (1, 8, 8, 4)
WIDE = (1, 8, 8, 64)
"""Enough channels for weights over 1024 values, which dynamic-range mode quantizes."""
VECTOR = (1, 16)
FEATURES = (1, 64)
SEQUENCE = (1, 6, 8)


@dataclass(frozen=True)
class Family:
    """One carrier: `build(tf, rng)` returns fn(*inputs); `shapes` are its float inputs;
    `low`/`high` the range of its representative data."""

    name: str
    build: Callable[[Any, np.random.Generator], Callable[..., Any]]
    shapes: tuple[tuple[int, ...], ...] = (IMAGE,)
    low: float = -1.0
    high: float = 1.0


@dataclass(frozen=True)
class ZooModel:
    """A converted zoo model: its family, tfstudio mode and file."""

    family: str
    mode: str
    path: Path


def _w(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(0, 0.5, size=shape).astype(np.float32)


def _families() -> list[Family]:
    f = Family
    positive = {"low": 0.1, "high": 2.0}
    return [
        f("ADD", lambda tf, r: lambda x: x + tf.constant(_w(r, 4))),
        f("SUB", lambda tf, r: lambda x: x - tf.constant(_w(r, 4))),
        f("MUL", lambda tf, r: lambda x: x * tf.constant(_w(r, 4))),
        f("DIV", lambda tf, r: lambda x, y: x / (tf.abs(y) + 0.5), shapes=(IMAGE, IMAGE)),
        f("SQUARED_DIFFERENCE", lambda tf, r: lambda x, y: tf.math.squared_difference(x, y),
          shapes=(IMAGE, IMAGE)),
        f("MAXIMUM", lambda tf, r: lambda x, y: tf.maximum(x, y), shapes=(IMAGE, IMAGE)),
        f("MINIMUM", lambda tf, r: lambda x, y: tf.minimum(x, y), shapes=(IMAGE, IMAGE)),
        f("POW", lambda tf, r: lambda x: tf.pow(x, 1.5), **positive),
        f("RSQRT", lambda tf, r: lambda x: tf.math.rsqrt(x), **positive),
        f("SQRT", lambda tf, r: lambda x: tf.sqrt(x), **positive),
        f("LOG", lambda tf, r: lambda x: tf.math.log(x), **positive),
        f("EXP", lambda tf, r: lambda x: tf.exp(x)),
        f("ABS", lambda tf, r: lambda x: tf.abs(x)),
        f("NEG", lambda tf, r: lambda x: -x),
        f("SIN", lambda tf, r: lambda x: tf.sin(x)),
        f("COS", lambda tf, r: lambda x: tf.cos(x)),
        f("FLOOR", lambda tf, r: lambda x: tf.floor(x * 3.0)),
        f("TANH", lambda tf, r: lambda x: tf.tanh(x)),
        f("LOGISTIC", lambda tf, r: lambda x: tf.sigmoid(x)),
        f("RELU", lambda tf, r: lambda x: tf.nn.relu(x)),
        f("RELU6", lambda tf, r: lambda x: tf.nn.relu6(x * 8.0)),
        f("LEAKY_RELU", lambda tf, r: lambda x: tf.nn.leaky_relu(x, 0.2)),
        f("ELU", lambda tf, r: lambda x: tf.nn.elu(x)),
        f("GELU", lambda tf, r: lambda x: tf.nn.gelu(x)),
        f("HARD_SWISH", lambda tf, r: lambda x: x * tf.nn.relu6(x + 3.0) / 6.0),
        f("PRELU", lambda tf, r: lambda x: tf.maximum(x, 0.0) + tf.constant(_w(r, 4))
          * tf.minimum(x, 0.0)),
        f("SOFTMAX", lambda tf, r: lambda x: tf.nn.softmax(x), shapes=(VECTOR,)),
        f("LOG_SOFTMAX", lambda tf, r: lambda x: tf.nn.log_softmax(x), shapes=(VECTOR,)),
        f("L2_NORMALIZATION", lambda tf, r: lambda x: tf.math.l2_normalize(x, axis=-1),
          shapes=(VECTOR,)),
        f("MEAN", lambda tf, r: lambda x: tf.reduce_mean(x, axis=[1, 2])),
        f("SUM", lambda tf, r: lambda x: tf.reduce_sum(x, axis=[1, 2])),
        f("REDUCE_MAX", lambda tf, r: lambda x: tf.reduce_max(x, axis=[1, 2])),
        f("REDUCE_MIN", lambda tf, r: lambda x: tf.reduce_min(x, axis=[1, 2])),
        f("ARG_MAX", lambda tf, r: lambda x: tf.cast(tf.argmax(x, axis=-1), tf.float32),
          shapes=(VECTOR,)),
        f("CONV_2D", lambda tf, r: lambda x: tf.nn.conv2d(x, tf.constant(_w(r, 3, 3, 64, 8)), 1,
                                                          "SAME") + tf.constant(_w(r, 8)),
          shapes=(WIDE,)),
        f("DEPTHWISE_CONV_2D", lambda tf, r: lambda x: tf.nn.depthwise_conv2d(
            x, tf.constant(_w(r, 5, 5, 64, 1)), [1, 1, 1, 1], "SAME"), shapes=(WIDE,)),
        f("TRANSPOSE_CONV", lambda tf, r: lambda x: tf.nn.conv2d_transpose(
            x, tf.constant(_w(r, 3, 3, 8, 64)), (1, 16, 16, 8), 2, "SAME"), shapes=(WIDE,)),
        f("FULLY_CONNECTED", lambda tf, r: lambda x: tf.matmul(x, tf.constant(_w(r, 64, 32)))
          + tf.constant(_w(r, 32)), shapes=(FEATURES,)),
        f("BATCH_MATMUL", lambda tf, r: lambda x, y: tf.matmul(x, y, transpose_b=True),
          shapes=(SEQUENCE, SEQUENCE)),
        f("AVERAGE_POOL_2D", lambda tf, r: lambda x: tf.nn.avg_pool2d(x, 2, 2, "VALID")),
        f("MAX_POOL_2D", lambda tf, r: lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID")),
        f("RESHAPE", lambda tf, r: lambda x: tf.reshape(x, (1, 64, 4)) * 2.0),
        f("TRANSPOSE", lambda tf, r: lambda x: tf.transpose(x, (0, 3, 1, 2))),
        f("CONCATENATION", lambda tf, r: lambda x, y: tf.concat([x, y], axis=-1),
          shapes=(IMAGE, IMAGE)),
        f("PACK", lambda tf, r: lambda x, y: tf.stack([x, y], axis=1), shapes=(VECTOR, VECTOR)),
        f("UNPACK", lambda tf, r: lambda x: tf.unstack(x, axis=1)[1] * 2.0, shapes=(SEQUENCE,)),
        f("SPLIT", lambda tf, r: lambda x: tf.split(x, 2, axis=-1)[1] * 2.0),
        f("SLICE", lambda tf, r: lambda x: tf.slice(x, (0, 1, 1, 0), (1, 4, 4, 4))),
        f("STRIDED_SLICE", lambda tf, r: lambda x: x[:, ::2, 1:, :]),
        f("GATHER", lambda tf, r: lambda x: tf.gather(x, [3, 0, 2], axis=1), shapes=(VECTOR,)),
        f("PAD", lambda tf, r: lambda x: tf.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))),
        f("PADV2", lambda tf, r: lambda x: tf.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)),
                                                  constant_values=0.5)),
        f("MIRROR_PAD", lambda tf, r: lambda x: tf.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)),
                                                       mode="REFLECT")),
        f("TILE", lambda tf, r: lambda x: tf.tile(x, (1, 2, 2, 1))),
        f("BROADCAST_TO", lambda tf, r: lambda x: tf.broadcast_to(x, (2, 8, 8, 4))),
        f("CAST", lambda tf, r: lambda x: tf.cast(tf.cast(x * 8.0, tf.int32), tf.float32)),
        f("RESIZE_BILINEAR", lambda tf, r: lambda x: tf.image.resize(x, (16, 16))),
        f("RESIZE_NEAREST_NEIGHBOR", lambda tf, r: lambda x: tf.image.resize(
            x, (16, 16), method="nearest")),
        f("SPACE_TO_DEPTH", lambda tf, r: lambda x: tf.nn.space_to_depth(x, 2)),
        f("DEPTH_TO_SPACE", lambda tf, r: lambda x: tf.nn.depth_to_space(x, 2)),
        f("SELECT_V2", lambda tf, r: lambda x, y: tf.where(x > y, x, y * 2.0),
          shapes=(IMAGE, IMAGE)),
        f("CUMSUM", lambda tf, r: lambda x: tf.cumsum(x, axis=1), shapes=(VECTOR,)),
        f("REVERSE_V2", lambda tf, r: lambda x: tf.reverse(x, axis=[1])),
        f("SQUARE", lambda tf, r: lambda x: tf.square(x)),
        f("EMBEDDING", lambda tf, r: lambda x: tf.gather(
            tf.constant(_w(r, 256, 8)), tf.cast(tf.abs(x) * 100.0, tf.int32)), shapes=((1, 4),)),
    ]  # fmt: skip


FAMILIES: dict[str, Family] = {fam.name: fam for fam in _families()}
"""Every carrier, by the op it is built around."""


TRIES = 3
"""Conversions of each model: TensorFlow 2.21's quantizer writes one of two graphs for
the same function at random where an op has an output nothing reads (SPLIT and UNPACK
in int8: the op in int8, or in float32 between DEQUANTIZE and QUANTIZE), and a user's
convert may get either, so the zoo keeps every distinct graph it saw."""


def build_zoo(
    outdir: Path,
    families: Iterable[str] | None = None,
    modes: Iterable[str] | None = None,
    samples: int = 16,
    tries: int = TRIES,
) -> tuple[list[ZooModel], list[tuple[str, str, str]]]:
    """Converts each family in each mode `tries` times into `outdir/<family>.<mode>.tflite`,
    and each further distinct graph into `<family>.<mode>.<n>.tflite` (kept when already
    there). Returns (the models, (family, mode, converter's reason) refused)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from tfstudio.convert.diagnose import converter_failure
    from tfstudio.convert.presets import Mode, load_presets

    presets = load_presets()
    chosen = [Mode(m) for m in modes] if modes else list(presets)
    outdir.mkdir(parents=True, exist_ok=True)
    built: list[ZooModel] = []
    refused: list[tuple[str, str, str]] = []
    for name in families or FAMILIES:
        family = FAMILIES[name]
        for mode in chosen:
            path = outdir / f"{name}.{mode.value}.tflite"
            failed = path.with_suffix(".refused")
            if path.exists():
                more = sorted(outdir.glob(f"{name}.{mode.value}.[0-9]*.tflite"))
                built.extend(ZooModel(name, mode.value, p) for p in [path, *more])
                continue
            if failed.exists():
                refused.append((name, mode.value, failed.read_text()))
                continue
            forms: list[bytes] = []
            try:
                for _ in range(tries):
                    data = _convert(tf, family, presets[mode], samples)
                    if data not in forms:
                        forms.append(data)
            except Exception as exc:  # noqa: BLE001 - the converter's refusal is data
                if not forms:
                    reason = converter_failure(str(exc))[0]
                    failed.write_text(reason)
                    refused.append((name, mode.value, reason))
                    continue
            # the first form is written last: its presence says the set is complete
            paths = [path] + [outdir / f"{name}.{mode.value}.{n}.tflite" for n in range(2, 99)]
            for target, data in reversed(list(zip(paths, forms))):
                target.write_bytes(data)
            built.extend(ZooModel(name, mode.value, p) for p in paths[: len(forms)])
    return built, refused


def _convert(tf: Any, family: Family, preset: Any, samples: int) -> bytes:
    from tfstudio.convert.engine import apply_preset

    rng = np.random.default_rng(sum(map(ord, family.name)))
    fn = tf.function(family.build(tf, rng), input_signature=[
        tf.TensorSpec(s, tf.float32, name=f"in{i}") for i, s in enumerate(family.shapes)
    ])  # fmt: skip
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    apply_preset(converter, preset, tf, float_fallback=False, select_tf_ops=False)
    if preset.needs_rep_data:
        converter.representative_dataset = _rep(family, samples)
    return bytes(converter.convert())


def _rep(family: Family, samples: int) -> Callable[[], Iterator[list[np.ndarray]]]:
    def data() -> Iterator[list[np.ndarray]]:
        rng = np.random.default_rng(0)
        for _ in range(samples):
            yield [
                rng.uniform(family.low, family.high, size=s).astype(np.float32)
                for s in family.shapes
            ]

    return data
