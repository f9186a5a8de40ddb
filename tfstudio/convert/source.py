"""The model given to `convert`: what kind it is, its digest, its input signature.

Two steps, so that bad input fails before any conversion starts:
`probe_source` is cheap and needs no tensorflow (exists? which kind? digest),
`load_source` loads what the converter needs and reads the input signature.
A Keras file is exported once to a temporary SavedModel so that every mode
converts from the same traced graph instead of retracing the model per mode.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from tfstudio.digest import file_sha256
from tfstudio.errors import SourceModelError

SAVED_MODEL_PB = "saved_model.pb"
SERVING_KEY = "serving_default"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class SourceKind(str, Enum):
    """What kind of model file or directory the source is."""

    SAVED_MODEL = "saved_model"
    KERAS = "keras"
    H5 = "h5"


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name, shape (None for a dynamic dim) and dtype name."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    def describe(self) -> str:
        """Returns the shape as text with N for dynamic dims, e.g. '(N, 8, 8, 1)'."""
        dims = ["N" if d is None else str(d) for d in self.shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


@dataclass(frozen=True)
class SourceInfo:
    """A probed source: absolute path, kind, content digest and the name used for outputs."""

    path: Path
    kind: SourceKind
    sha256: str
    name: str

    def to_json(self) -> dict[str, str]:
        """Returns {path, sha256, kind}."""
        return {"path": str(self.path), "sha256": self.sha256, "kind": self.kind.value}


@dataclass(frozen=True)
class OpenedSource:
    """A loaded source: its path, its inputs and, for .keras/.h5, the Keras model.

    `saved_model_dir` is the source itself for a SavedModel; for Keras files
    use `saved_model_dir()` to get an exported one. `keras_model` also serves
    as the float reference when evaluating.
    """

    info: SourceInfo
    saved_model_dir: Path
    inputs: tuple[InputSpec, ...]
    keras_model: Any = None


def probe_source(path: str | Path) -> SourceInfo:
    """Returns what `path` is without loading it.

    Raises SourceModelError when it is missing, of an unknown kind, or visibly
    corrupt (a .keras that is not a zip, an .h5 without the HDF5 signature).
    """
    src = Path(path).expanduser().resolve()
    if not src.exists():
        raise SourceModelError(f"source model {path} does not exist")
    if src.is_dir():
        if not (src / SAVED_MODEL_PB).is_file():
            raise SourceModelError(
                f"{path} is a directory but not a SavedModel (no {SAVED_MODEL_PB})",
                hint="give a SavedModel directory, a .keras file or an .h5 file",
            )
        return SourceInfo(src, SourceKind.SAVED_MODEL, _tree_sha256(src), src.name)
    suffix = src.suffix.lower()
    if suffix == ".keras":
        if not zipfile.is_zipfile(src):
            raise SourceModelError(f"{path} is not a valid .keras file (not a zip archive)")
        return SourceInfo(src, SourceKind.KERAS, file_sha256(src), src.stem)
    if suffix in (".h5", ".hdf5"):
        with open(src, "rb") as handle:
            if handle.read(len(_HDF5_MAGIC)) != _HDF5_MAGIC:
                raise SourceModelError(f"{path} is not a valid .h5 file (no HDF5 signature)")
        return SourceInfo(src, SourceKind.H5, file_sha256(src), src.stem)
    raise SourceModelError(
        f"{path} is not a model tfstudio can convert",
        hint="give a SavedModel directory, a .keras file or an .h5 file",
    )


def load_source(info: SourceInfo, tf: Any) -> OpenedSource:
    """Returns the source loaded far enough to know its inputs (a Keras model is loaded).

    Raises SourceModelError when the model cannot be loaded or has no serving signature.
    """
    if info.kind is SourceKind.SAVED_MODEL:
        return OpenedSource(info, info.path, _saved_model_inputs(info.path, tf))
    model = _load_keras(info)
    inputs = tuple(
        InputSpec(
            name=str(getattr(t, "name", f"input_{i}")).split(":")[0],
            shape=tuple(None if d is None else int(d) for d in t.shape),
            dtype=str(getattr(t, "dtype", "float32")).replace("tf.", ""),
        )
        for i, t in enumerate(model.inputs)
    )
    return OpenedSource(info, info.path, inputs, keras_model=model)


@contextmanager
def saved_model_dir(opened: OpenedSource) -> Iterator[Path]:
    """Yields a SavedModel directory to convert from.

    A Keras model is exported (traced once) to a temporary directory that lives
    only inside the block. Raises SourceModelError when the export fails.
    """
    if opened.keras_model is None:
        yield opened.saved_model_dir
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tfstudio-export-") as tmp:
        exported = Path(tmp) / opened.info.name
        try:
            # verbose=False: Keras would otherwise print the signature on stdout.
            opened.keras_model.export(str(exported), format="tf_saved_model", verbose=False)
        except Exception as exc:  # noqa: BLE001 - keras raises many kinds
            raise SourceModelError(
                f"cannot trace {opened.info.path.name} for conversion: {_first_line(exc)}"
            ) from exc
        yield exported


def _load_keras(info: SourceInfo) -> Any:
    from tfstudio.extras import require

    keras = require("keras", "convert")
    try:
        return keras.models.load_model(str(info.path), compile=False)
    except Exception as exc:  # noqa: BLE001 - keras raises many kinds for a bad file
        raise SourceModelError(
            f"cannot load {info.path.name} as a Keras model: {_first_line(exc)}"
        ) from exc


def _saved_model_inputs(directory: Path, tf: Any) -> tuple[InputSpec, ...]:
    # Parsing the proto reads the signature without loading (and tracing) the
    # whole model, so validation costs milliseconds, not seconds.
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString((directory / SAVED_MODEL_PB).read_bytes())
    except (DecodeError, OSError, ValueError) as exc:
        raise SourceModelError(
            f"{directory} is a corrupt SavedModel ({SAVED_MODEL_PB} cannot be parsed)"
        ) from exc
    signatures = [g.signature_def for g in proto.meta_graphs if SERVING_KEY in g.signature_def]
    if not signatures:
        raise SourceModelError(
            f"{directory} is not a usable SavedModel (no '{SERVING_KEY}' signature)"
        )
    inputs = signatures[0][SERVING_KEY].inputs
    specs = []
    for key in sorted(inputs):
        tensor = inputs[key]
        shape: tuple[int | None, ...] = tuple(
            None if d.size < 0 else int(d.size) for d in tensor.tensor_shape.dim
        )
        specs.append(InputSpec(key, shape, tf.dtypes.as_dtype(tensor.dtype).name))
    if not specs:
        raise SourceModelError(f"{directory} has a '{SERVING_KEY}' signature without inputs")
    return tuple(specs)


def _tree_sha256(root: Path) -> str:
    """Digest of a directory: each file's relative path and sha256, in sorted order."""
    digest = hashlib.sha256()
    files = sorted(
        Path(dirpath, name).relative_to(root)
        for dirpath, _dirs, names in os.walk(root)
        for name in names
    )
    for rel in files:
        digest.update(f"{rel.as_posix()}\0{file_sha256(root / rel)}\n".encode())
    return digest.hexdigest()


def _first_line(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(exc).__name__
