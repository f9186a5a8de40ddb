"""The model given to `convert`: what kind it is, its digest, its signature.

Two steps, so that bad input fails before any conversion starts:
`probe_source` is cheap and needs no tensorflow (exists? which kind? digest),
`load_source` loads what the converter needs. A Keras file is exported once to
a temporary SavedModel (with a static batch size under `--fixed-batch`) so that
every mode converts from the same traced graph. Inputs and outputs are always
read from that SavedModel's serving signature: its names are the ones the
converted model's signature runner uses, so data and outputs map by name.
"""

from __future__ import annotations

import contextlib
import errno
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from tfstudio.digest import file_sha256, tree_sha256
from tfstudio.errors import SourceModelError, TfStudioError, UsageError

SAVED_MODEL_PB = "saved_model.pb"
SERVING_KEY = "serving_default"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


TREE_DIGEST_COVERS = "every file's path and content, symbolic links followed"
"""What a SavedModel folder's sha256 covers, as the provenance says it."""


class SourceKind(str, Enum):
    """What kind of model file or directory the source is."""

    SAVED_MODEL = "saved_model"
    KERAS = "keras"
    H5 = "h5"


@dataclass(frozen=True)
class InputSpec:
    """One signature input: its name, shape (None for a dynamic dim) and dtype name."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    def describe(self) -> str:
        """Returns the shape as text with N for dynamic dims, e.g. '(N, 8, 8, 1)'."""
        dims = ["N" if d is None else str(d) for d in self.shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


@dataclass(frozen=True)
class OutputSpec:
    """One signature output; `alias` is the Keras output name, when known."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    alias: str | None = None

    def label(self) -> str:
        """Returns 'output_0 (score)' when an alias is known, else the name."""
        return (
            f"{self.name} ({self.alias})" if self.alias and self.alias != self.name else self.name
        )


@dataclass(frozen=True)
class SourceInfo:
    """A probed source: absolute path, kind, content digest and the name used for outputs."""

    path: Path
    kind: SourceKind
    sha256: str
    name: str

    def to_json(self) -> dict[str, str]:
        """Returns {path, sha256, kind} (and, for a SavedModel folder, what its sha256
        covers: every file, symbolic links followed)."""
        out = {"path": str(self.path), "sha256": self.sha256, "kind": self.kind.value}
        if self.kind is SourceKind.SAVED_MODEL:
            out["sha256_covers"] = TREE_DIGEST_COVERS
        return out


@dataclass(frozen=True)
class OpenedSource:
    """A loaded source: its path and, for .keras/.h5, the Keras model.

    `saved_model_dir` is the source itself for a SavedModel; for Keras files
    use `saved_model_dir()` to get an exported one.
    """

    info: SourceInfo
    saved_model_dir: Path
    keras_model: Any = None


def resolve_given(path: str | Path, what: str, error: type[TfStudioError]) -> Path:
    """Returns a path the user gave, resolved. Raises `error` (one line) when resolving
    it fails: a loop of symbolic links, or a folder on the way that cannot be read."""
    try:
        return Path(path).expanduser().resolve()
    except RuntimeError as exc:  # Python < 3.13 reports a loop so
        raise error(f"{what} {path} is a loop of symbolic links") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(f"{what} {path} is a loop of symbolic links") from exc
        raise error(f"cannot resolve {what} {path}: {exc.strerror or exc}") from exc


def probe_source(path: str | Path) -> SourceInfo:
    """Returns what `path` is without loading it.

    Raises SourceModelError when it is missing, a loop of symbolic links, of an
    unknown kind, or visibly corrupt (a .keras that is not a zip, an .h5 without
    the HDF5 signature).
    """
    src = resolve_given(path, "source model", SourceModelError)
    if not src.exists():
        raise SourceModelError(f"source model {path} does not exist")
    if src.is_dir():
        if not (src / SAVED_MODEL_PB).is_file():
            raise SourceModelError(
                f"{path} is a directory but not a SavedModel (no {SAVED_MODEL_PB})",
                hint="give a SavedModel directory, a .keras file or an .h5 file",
            )
        # A version folder (`exports/digits/3`, TF Serving's layout) is named
        # after its model: its variants are digits.int8.tflite, not 3.int8.tflite.
        name = src.parent.name if src.name.isdigit() and src.parent.name else src.name
        return SourceInfo(src, SourceKind.SAVED_MODEL, _tree_sha256(src), name)
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


def load_source(info: SourceInfo) -> OpenedSource:
    """Returns the source loaded far enough to convert it (a Keras file is loaded).

    Raises SourceModelError when the model cannot be loaded.
    """
    if info.kind is SourceKind.SAVED_MODEL:
        return OpenedSource(info, info.path)
    return OpenedSource(info, info.path, keras_model=_load_keras(info))


@contextmanager
def saved_model_dir(
    opened: OpenedSource, fixed_batch: int | None = None, into: Path | None = None
) -> Iterator[Path]:
    """Yields a SavedModel directory to convert from.

    A Keras model is exported (traced once): under `into` when given (its
    owner removes it), else to a temporary directory that lives only inside
    the block. With `fixed_batch` every input gets that static batch size.
    Raises SourceModelError when the export fails, and UsageError when
    `fixed_batch` is asked of a SavedModel (its graph is already traced).
    """
    if opened.keras_model is None:
        if fixed_batch is not None:
            raise fixed_batch_needs_keras()
        yield opened.saved_model_dir
        return
    import tempfile

    with contextlib.ExitStack() as stack:
        if into is None:
            into = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tfstudio-export-")))
        exported = into / opened.info.name
        try:
            signature = _fixed_signature(opened.keras_model, fixed_batch) if fixed_batch else None
            # verbose=False: Keras would otherwise print the signature on stdout.
            opened.keras_model.export(
                str(exported), format="tf_saved_model", verbose=False, input_signature=signature
            )
        except Exception as exc:  # noqa: BLE001 - keras raises many kinds
            raise SourceModelError(
                f"cannot trace {opened.info.path.name} for conversion: {_first_line(exc)}"
            ) from exc
        yield exported


def fixed_batch_needs_keras() -> UsageError:
    """The error for --fixed-batch on a SavedModel source."""
    return UsageError(
        "--fixed-batch needs a .keras or .h5 source: a SavedModel's graph is already "
        "traced and cannot be retraced with a static batch size",
        hint="convert the Keras file, or export the SavedModel with a static batch size",
    )


def _fixed_signature(model: Any, batch: int) -> Any:
    """The model's export signature with the batch dimension of every input set to `batch`."""
    import keras
    from keras.src.export.export_utils import get_input_signature

    def fix(spec: Any) -> Any:
        shape = (batch, *tuple(spec.shape)[1:])
        return keras.InputSpec(shape=shape, dtype=spec.dtype, name=getattr(spec, "name", None))

    return keras.tree.map_structure(fix, get_input_signature(model))


def signature_specs(
    directory: Path, tf: Any, keras_model: Any = None, key: str = SERVING_KEY
) -> tuple[tuple[InputSpec, ...], tuple[OutputSpec, ...]]:
    """Returns signature `key`'s inputs and outputs, sorted by name as TFLite sorts them.

    An exported Keras model names its outputs output_0, output_1...; the Keras
    output names become their aliases. Raises SourceModelError when the
    SavedModel is corrupt or has no signature `key` (naming those it has), or
    an input TFLite cannot take (a string).
    """
    signature = _signature(directory, key)
    inputs = tuple(
        InputSpec(key, _shape(signature.inputs[key]), _dtype(tf, signature.inputs[key]))
        for key in sorted(signature.inputs)
    )
    if not inputs:
        raise SourceModelError(f"{directory} has a '{key}' signature without inputs")
    strings = [spec.name for spec in inputs if spec.dtype == "string"]
    if strings:
        raise SourceModelError(
            f"input '{strings[0]}' of signature '{key}' is a string tensor: TFLite's "
            "builtin ops take numbers, and the string ops a model needs to read it "
            "(StringToNumber, lookups) exist only as TensorFlow ops",
            hint="export a signature that takes the numeric tensor (parse strings before "
            "the model) and convert that, with --signature NAME if it is not serving_default",
        )
    aliases = _keras_aliases(keras_model, set(signature.outputs))
    outputs = tuple(
        OutputSpec(
            key,
            _shape(signature.outputs[key]),
            _dtype(tf, signature.outputs[key]),
            aliases.get(key),
        )
        for key in sorted(signature.outputs)
    )
    return inputs, outputs


def _keras_aliases(model: Any, keys: set[str]) -> dict[str, str]:
    names = list(getattr(model, "output_names", None) or []) if model is not None else []
    if not names or keys != {f"output_{i}" for i in range(len(names))}:
        return {}
    return {f"output_{i}": str(name) for i, name in enumerate(names)}


def _load_keras(info: SourceInfo) -> Any:
    from tfstudio.extras import require

    keras = require("keras", "convert")
    try:
        return keras.models.load_model(str(info.path), compile=False)
    except Exception as exc:  # noqa: BLE001 - keras raises many kinds for a bad file
        raise SourceModelError(
            f"cannot load {info.path.name} as a Keras model: {_first_line(exc)}"
        ) from exc


def _signature(directory: Path, key: str) -> Any:
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
    signatures = [g.signature_def for g in proto.meta_graphs if key in g.signature_def]
    if not signatures:
        there = sorted(
            {k for g in proto.meta_graphs for k in g.signature_def if not k.startswith("__")}
        )
        raise SourceModelError(
            f"{directory} has no signature '{key}' (it has {', '.join(there) or 'none'})",
            hint="name one with --signature NAME" if there else None,
        )
    return signatures[0][key]


def _shape(tensor: Any) -> tuple[int | None, ...]:
    return tuple(None if d.size < 0 else int(d.size) for d in tensor.tensor_shape.dim)


def _dtype(tf: Any, tensor: Any) -> str:
    return str(tf.dtypes.as_dtype(tensor.dtype).name)


def _tree_sha256(root: Path) -> str:
    """Digest of a directory (see `tfstudio.digest.tree_sha256`: links followed).

    Raises SourceModelError when a file in it cannot be read (a dangling link)."""
    try:
        return tree_sha256(root)
    except OSError as exc:
        raise SourceModelError(
            f"cannot read {exc.filename or root} in the SavedModel {root}: {exc.strerror or exc}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(exc).__name__
