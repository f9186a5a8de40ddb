"""Representative and evaluation data: load it and check it fits the model's inputs.

Accepted forms: a `.npy` array of inputs, a `.npz` with `x` (or, for a model
with several inputs, one array per input name) and, for evaluation, an
optional `y` of labels, or a directory of PNG/JPEG images that are resized to
the input's height and width and scaled to [0, 1]. Every mismatch is a
RepresentativeDataError naming what was expected and what was found; values
are checked for NaN and infinity (`datacheck`) before any converter sees them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfstudio.convert.datacheck import check_finite
from tfstudio.digest import file_sha256
from tfstudio.errors import RepresentativeDataError
from tfstudio.models.source import InputSpec, resolve_given

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_REP_SAMPLES = 300
"""Calibration needs a few hundred samples at most; more only slows int8 conversion."""
LABELS_KEY = "y"
SINGLE_KEY = "x"


@dataclass(frozen=True)
class Samples:
    """Model inputs by signature name (and maybe raw labels) loaded from `path`.

    Each array has the input's dtype and the same number of samples.
    """

    path: Path
    inputs: dict[str, np.ndarray]
    y: np.ndarray | None
    sha256: str

    def __len__(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0])

    def rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Returns samples start..stop-1 of every input."""
        return {name: arr[start:stop] for name, arr in self.inputs.items()}

    def describe(self) -> dict[str, Any]:
        """Returns {path, sha256, samples, labelled} for manifests and reports."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "samples": len(self),
            "labelled": self.y is not None,
        }


def load_samples(
    path: str | Path, specs: InputSpec | tuple[InputSpec, ...], purpose: str, labels: bool
) -> Samples:
    """Returns the samples at `path`, checked against the model's input `specs`.

    `purpose` names the data in messages ("representative data", "eval data");
    `labels` allows a `y` array in an .npz. Float inputs must be finite.
    Raises RepresentativeDataError.
    """
    specs = (specs,) if isinstance(specs, InputSpec) else tuple(specs)
    src = check_data_path(path, purpose)
    y: np.ndarray | None = None
    if src.is_dir():
        arrays = {
            _only(specs, purpose, "a directory of images").name: _load_images(
                src, specs[0], purpose
            )
        }
        digest = _images_sha256(src)
    elif src.suffix.lower() == ".npy":
        arrays = {_only(specs, purpose, "an .npy file").name: _np_load(src, purpose)}
        digest = file_sha256(src)
    elif src.suffix.lower() == ".npz":
        archive = _np_load(src, purpose)
        arrays = _npz_inputs(archive, specs, purpose, src)
        if labels and LABELS_KEY in archive:
            y = np.asarray(archive[LABELS_KEY])
        digest = file_sha256(src)
    else:  # pragma: no cover - check_data_path refused it
        raise AssertionError(src)
    fitted = {
        spec.name: _fit(arrays[spec.name], spec, purpose, src, len(specs) > 1) for spec in specs
    }
    counts = {name: arr.shape[0] for name, arr in fitted.items()}
    if len(set(counts.values())) > 1:
        found = ", ".join(f"'{n}' {c}" for n, c in counts.items())
        raise RepresentativeDataError(
            f"{purpose} {src.name}: the inputs hold different numbers of samples ({found})"
        )
    for name, arr in fitted.items():
        check_finite(arr, f"{purpose} {src.name}" + (f" array '{name}'" if len(specs) > 1 else ""))
    if y is not None:
        y = _label_shape(y, len(next(iter(fitted.values()))), purpose, src)
    return Samples(src, fitted, y, digest)


def check_data_path(path: str | Path, purpose: str) -> Path:
    """Returns `path` resolved when it is a directory, a .npy or an .npz (cheap, no loading).

    Raises RepresentativeDataError when it does not exist, is a loop of symbolic
    links or is of another kind.
    """
    src = resolve_given(path, purpose, RepresentativeDataError)
    if not src.exists():
        raise RepresentativeDataError(f"{purpose} {path} does not exist")
    if not src.is_dir() and src.suffix.lower() not in (".npy", ".npz"):
        raise RepresentativeDataError(
            f"{purpose} {path} is not a .npy file, an .npz file or a directory of images"
        )
    return src


def _only(specs: tuple[InputSpec, ...], purpose: str, what: str) -> InputSpec:
    if len(specs) != 1:
        raise RepresentativeDataError(
            f"the model has {len(specs)} inputs ({_names(specs)}); {purpose} as {what} "
            "fits single-input models only",
            hint="give an .npz with one array per input name",
        )
    return specs[0]


def _names(specs: tuple[InputSpec, ...]) -> str:
    return ", ".join(s.name for s in specs)


def _npz_inputs(
    archive: dict[str, Any], specs: tuple[InputSpec, ...], purpose: str, path: Path
) -> dict[str, Any]:
    found = ", ".join(sorted(archive)) or "nothing"
    if len(specs) == 1:
        name = specs[0].name
        key = name if name in archive else SINGLE_KEY
        if key not in archive:
            raise RepresentativeDataError(
                f"{purpose} {path} has no array 'x' or '{name}' (found {found})"
            )
        return {name: archive[key]}
    missing = [s.name for s in specs if s.name not in archive]
    if missing:
        raise RepresentativeDataError(
            f"{purpose} {path} lacks arrays for the model's inputs {', '.join(missing)} "
            f"(found {found}); give one array per input name ({_names(specs)})"
        )
    return {s.name: archive[s.name] for s in specs}


def _np_load(path: Path, purpose: str) -> Any:
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            # Read every array now, so a truncated member fails here, not later.
            with loaded:
                return {key: loaded[key] for key in loaded.files}
        return loaded
    except (OSError, ValueError, EOFError) as exc:
        raise RepresentativeDataError(f"cannot read {purpose} {path}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - zipfile and pickle guards raise others
        raise RepresentativeDataError(f"cannot read {purpose} {path}: {exc}") from exc


def _fit(x: Any, spec: InputSpec, purpose: str, path: Path, named: bool) -> np.ndarray:
    arr = np.asarray(x)
    what = f"{purpose} {path.name}" + (f" array '{spec.name}'" if named else "")
    expected = spec.describe()
    actual = "(" + ", ".join(str(d) for d in arr.shape) + ("," if arr.ndim == 1 else "") + ")"
    if arr.ndim != len(spec.shape) or any(
        want is not None and want != got for want, got in zip(spec.shape[1:], arr.shape[1:])
    ):
        raise RepresentativeDataError(
            f"{what} has shape {actual}; the model's input '{spec.name}' expects {expected}"
        )
    if arr.shape[0] == 0:
        raise RepresentativeDataError(f"{what} holds no samples")
    want = np.dtype(spec.dtype)
    ok_kinds = "fiu" if want.kind == "f" else "iub"
    if arr.dtype.kind not in ok_kinds:
        raise RepresentativeDataError(
            f"{what} has dtype {arr.dtype}; the model's input "
            f"'{spec.name}' expects {want} (or a numeric type that converts to it)"
        )
    return arr.astype(want, copy=False)


def _label_shape(y: np.ndarray, count: int, purpose: str, path: Path) -> np.ndarray:
    """Checks that `y` has one label (or one-hot row) per sample; values are checked later."""
    if y.ndim not in (1, 2) or y.shape[0] != count or y.dtype.kind not in "iubf":
        raise RepresentativeDataError(
            f"{purpose} {path.name}: 'y' must hold {count} integer labels or one-hot rows "
            f"(got shape {tuple(y.shape)}, dtype {y.dtype})"
        )
    return y


def _load_images(directory: Path, spec: InputSpec, purpose: str) -> np.ndarray:
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise RepresentativeDataError(f"{purpose} directory {directory} has no PNG or JPEG images")
    if len(spec.shape) != 4 or spec.shape[3] not in (1, 3) or None in spec.shape[1:3]:
        raise RepresentativeDataError(
            f"{purpose} is a directory of images, but the model's input '{spec.name}' "
            f"is {spec.describe()}, not (N, height, width, 1 or 3)"
        )
    from tfstudio.extras import require

    Image = require("PIL.Image", "convert")
    UnidentifiedImageError = Image.UnidentifiedImageError

    height, width, channels = int(spec.shape[1] or 0), int(spec.shape[2] or 0), spec.shape[3]
    pil_mode = "L" if channels == 1 else "RGB"
    images = []
    for file in files[:MAX_REP_SAMPLES]:
        try:
            with Image.open(file) as img:
                fitted = img.convert(pil_mode).resize((width, height), Image.Resampling.BILINEAR)
                arr = np.asarray(fitted, dtype=np.float32) / 255.0
        except (OSError, UnidentifiedImageError) as exc:
            raise RepresentativeDataError(f"cannot read image {file}: {exc}") from exc
        images.append(arr.reshape(height, width, int(channels or 1)))
    return np.stack(images)


def _images_sha256(directory: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        digest.update(f"{file.name}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def calibration_batches(samples: Samples, batch: int | None = None) -> list[dict[str, np.ndarray]]:
    """Returns up to MAX_REP_SAMPLES samples as converter batches keyed by input name.

    Batches hold one sample each, or `batch` samples for a model with a static
    batch size (the last one filled up from the first samples).
    """
    size = batch or 1
    count = min(len(samples), MAX_REP_SAMPLES)
    batches = []
    for start in range(0, count, size):
        index = [(start + i) % len(samples) for i in range(size)]
        batches.append({name: arr[index] for name, arr in samples.inputs.items()})
    return batches
