"""Representative and evaluation data: load it and check it fits the model's input.

Accepted forms: a `.npy` array of inputs, a `.npz` with `x` (and, for
evaluation, an optional `y` of labels), or a directory of PNG/JPEG images that
are resized to the input's height and width and scaled to [0, 1].
Every mismatch is a RepresentativeDataError naming the expected and actual shape or dtype.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfstudio.convert.source import InputSpec
from tfstudio.digest import file_sha256
from tfstudio.errors import RepresentativeDataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_REP_SAMPLES = 300
"""Calibration needs a few hundred samples at most; more only slows int8 conversion."""


@dataclass(frozen=True)
class Samples:
    """Model inputs (and maybe labels) loaded from `path`; `x` has the model's dtype."""

    path: Path
    x: np.ndarray
    y: np.ndarray | None
    sha256: str

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def describe(self) -> dict[str, Any]:
        """Returns {path, sha256, samples, labelled} for manifests and reports."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "samples": len(self),
            "labelled": self.y is not None,
        }


def load_samples(path: str | Path, spec: InputSpec, purpose: str, labels: bool) -> Samples:
    """Returns the samples at `path`, checked against `spec`.

    `purpose` names the data in messages ("representative data", "eval data");
    `labels` allows a `y` array in an .npz. Raises RepresentativeDataError.
    """
    src = Path(path).expanduser().resolve()
    if not src.exists():
        raise RepresentativeDataError(f"{purpose} {path} does not exist")
    y: np.ndarray | None = None
    if src.is_dir():
        x = _load_images(src, spec, purpose)
        digest = _images_sha256(src)
    elif src.suffix.lower() == ".npy":
        x = _np_load(src, purpose)
        digest = file_sha256(src)
    elif src.suffix.lower() == ".npz":
        archive = _np_load(src, purpose)
        if "x" not in archive:
            found = ", ".join(sorted(archive)) or "nothing"
            raise RepresentativeDataError(f"{purpose} {path} has no array 'x' (found {found})")
        x = archive["x"]
        if labels and "y" in archive:
            y = _labels(archive["y"], len(x), purpose, src)
        digest = file_sha256(src)
    else:
        raise RepresentativeDataError(
            f"{purpose} {path} is not a .npy file, an .npz file or a directory of images"
        )
    return Samples(src, _fit(x, spec, purpose, src), y, digest)


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


def _fit(x: Any, spec: InputSpec, purpose: str, path: Path) -> np.ndarray:
    arr = np.asarray(x)
    expected = spec.describe()
    actual = "(" + ", ".join(str(d) for d in arr.shape) + ("," if arr.ndim == 1 else "") + ")"
    if arr.ndim != len(spec.shape) or any(
        want is not None and want != got for want, got in zip(spec.shape[1:], arr.shape[1:])
    ):
        raise RepresentativeDataError(
            f"{purpose} {path.name} has shape {actual}; the model's input "
            f"'{spec.name}' expects {expected}"
        )
    if arr.shape[0] == 0:
        raise RepresentativeDataError(f"{purpose} {path.name} holds no samples")
    want = np.dtype(spec.dtype)
    ok_kinds = "fiu" if want.kind == "f" else "iu"
    if arr.dtype.kind not in ok_kinds:
        raise RepresentativeDataError(
            f"{purpose} {path.name} has dtype {arr.dtype}; the model's input "
            f"'{spec.name}' expects {want} (or a numeric type that converts to it)"
        )
    return arr.astype(want, copy=False)


def _labels(y: Any, count: int, purpose: str, path: Path) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim == 2:  # one-hot labels
        arr = arr.argmax(axis=1)
    if arr.ndim != 1 or arr.shape[0] != count or arr.dtype.kind not in "iub":
        raise RepresentativeDataError(
            f"{purpose} {path.name}: 'y' must hold {count} integer labels "
            f"(got shape {tuple(arr.shape)}, dtype {arr.dtype})"
        )
    return arr.astype(np.int64)


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


def calibration_batches(samples: Samples) -> list[np.ndarray]:
    """Returns up to MAX_REP_SAMPLES single-sample batches for the converter."""
    return [samples.x[i : i + 1] for i in range(min(len(samples), MAX_REP_SAMPLES))]
