"""Real input files for bench and eval: load them, check their hash, fit them to a model.

A file is a `.npy` array (the inputs) or a `.npz` archive with `x` (or one
array per input, by the input's name), optional labels `y` and optional float
reference outputs `reference`. The studio pushes these files into `data/`
under their sha256, so `--sha256` lets the agent refuse a file that is not
the one the studio meant. Every problem is an AgentError(bad_input) in one line.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from edge_agent.errors import AgentError

DATA_DIR = "data"
"""Where the studio keeps pushed eval data and bench inputs, by sha256, in the agent home."""


def file_sha256(path: Path) -> str:
    """Returns the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_arrays(path: str, what: str, expected_sha: Optional[str] = None) -> Dict[str, Any]:
    """Returns the arrays of a .npy (as {"x": array}) or .npz file (by their names).

    With `expected_sha`, the file must hash to it. Raises AgentError: bad_input
    (unreadable, pickled, not numpy), sha256_mismatch.
    """
    source = Path(path)
    if not source.is_file():
        raise AgentError(f"{what} {path}: no such file", "bad_input")
    if expected_sha is not None:
        got = file_sha256(source)
        if got != expected_sha.lower():
            raise AgentError(
                f"{what} {path}: sha256 is {got[:12]}, expected {expected_sha[:12]}",
                "sha256_mismatch",
                hint="push the file again",
            )
    try:
        loaded = np.load(str(source), allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {"x": loaded}
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise AgentError(
            f"{what} {path}: not a readable .npy or .npz file ({_first_line(exc)})", "bad_input"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def short_name(name: str) -> str:
    """'serving_default_x:0' → 'x' (the name a data file may use for an input)."""
    base = name.split(":")[0]
    return base[len("serving_default_") :] if base.startswith("serving_default_") else base


def model_inputs(
    details: List[Dict[str, Any]], arrays: Dict[str, Any], what: str
) -> List[np.ndarray]:
    """Returns one array per model input, shaped (N, *input_shape[1:]) in the input's dtype.

    Float data for an integer (quantized) input is quantized with the tensor's
    scale and zero point. A single sample without its batch axis is accepted
    for a batch-1 input. Raises AgentError(bad_input) naming what does not fit.
    """

    if len(details) == 1 and "x" in arrays:
        picked = [arrays["x"]]
    else:
        picked = []
        for detail in details:
            name = short_name(detail["name"])
            for key in (name, detail["name"]):
                if key in arrays:
                    picked.append(arrays[key])
                    break
            else:
                wanted = ", ".join(short_name(d["name"]) for d in details)
                found = ", ".join(sorted(arrays)) or "nothing"
                raise AgentError(
                    f"{what}: the model's inputs are {wanted}; the file has {found} "
                    "(give 'x' for a one-input model, or one array per input name)",
                    "bad_input",
                )
    out = []
    count = None
    for detail, value in zip(details, picked):
        value = np.asarray(value)
        want = tuple(int(d) for d in detail["shape"])
        label = short_name(detail["name"])
        if value.dtype.kind not in "biuf":
            raise AgentError(f"{what}: input {label!r} is not numeric ({value.dtype})", "bad_input")
        if tuple(value.shape) == want[1:] and want[:1] == (1,):
            value = value[None, ...]
        if value.ndim != len(want) or tuple(value.shape[1:]) != want[1:]:
            per = ", ".join(str(d) for d in want[1:])
            raise AgentError(
                f"{what}: input {label!r} has shape {tuple(value.shape)}; the model takes "
                f"{want} (or a stack of samples, (N, {per}))",
                "bad_input",
            )
        if count is not None and value.shape[0] != count:
            raise AgentError(f"{what}: the inputs have different sample counts", "bad_input")
        count = value.shape[0]
        out.append(_to_dtype(value, detail, what, label))
    if not count:
        raise AgentError(f"{what}: the file holds no samples", "bad_input")
    return out


def _to_dtype(value: np.ndarray, detail: Dict[str, Any], what: str, label: str) -> np.ndarray:
    from edge_agent import runtime

    dtype = np.dtype(detail["dtype"])
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise AgentError(f"{what}: input {label!r} holds NaN or infinity", "bad_input")
    if value.dtype.kind == "f" and np.issubdtype(dtype, np.integer):
        return runtime.quantize(value, detail)
    if not np.can_cast(value.dtype, dtype, casting="same_kind"):
        raise AgentError(
            f"{what}: input {label!r} is {value.dtype}, which cannot feed a {dtype} input",
            "bad_input",
        )
    return np.ascontiguousarray(value.astype(dtype, copy=False))


def labels(arrays: Dict[str, Any], count: int, what: str) -> Optional[np.ndarray]:
    """Returns the integer labels `y` (class indices; one-hot rows are argmax-ed), or None.

    Raises AgentError(bad_input) for labels that do not match the samples.
    """
    if "y" not in arrays:
        return None
    y = np.asarray(arrays["y"])
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 else y
    if y.ndim != 1 or y.shape[0] != count or y.dtype.kind not in "biuf":
        raise AgentError(
            f"{what}: y has shape {tuple(np.asarray(arrays['y']).shape)}; expected {count} "
            "class indices",
            "bad_input",
        )
    return y.astype(np.int64)
