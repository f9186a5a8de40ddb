"""The one place that finds a LiteRT runtime and builds interpreters.

Runtimes are tried in order: `ai_edge_litert`, `tflite_runtime`,
`tensorflow.lite`. Everything else (the agent's validation, bench and server,
and the studio's accuracy evaluation) asks this module for an interpreter and
for the quantize/dequantize of tensors.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from edge_agent.runtime_meta import RUNTIME_ORDER, compat_version


class RuntimeMissingError(Exception):
    """No LiteRT runtime can be imported. The message names the fix."""


@dataclass(frozen=True)
class RuntimeInfo:
    """Which runtime the agent uses, its own version, and its TF-equivalent version."""

    name: str
    version: str
    compat_version: str
    module: str


_cached: Dict[Optional[str], Tuple[RuntimeInfo, Any]] = {}


def detect_runtime(prefer: Optional[str] = None) -> RuntimeInfo:
    """Returns the first importable runtime (or `prefer`, by name).

    Raises RuntimeMissingError when none can be imported.
    """
    return _load(prefer)[0]


def interpreter_class(prefer: Optional[str] = None) -> Any:
    """Returns the `Interpreter` class of the detected runtime."""
    return _load(prefer)[1]


def _load(prefer: Optional[str]) -> Tuple[RuntimeInfo, Any]:
    if prefer in _cached:
        return _cached[prefer]
    order = [r for r in RUNTIME_ORDER if prefer is None or r[0] == prefer]
    if not order:
        names = ", ".join(r[0] for r in RUNTIME_ORDER)
        raise RuntimeMissingError(f"unknown runtime {prefer!r}; known: {names}")
    errors = []
    for name, module_name in order:
        try:
            module = importlib.import_module(module_name)
            cls = module.Interpreter
        except Exception as exc:  # noqa: BLE001 - a broken runtime is "not available"
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        version = _version_of(name)
        info = RuntimeInfo(name, version, compat_version(name, version), module_name)
        _cached[prefer] = (info, cls)
        return info, cls
    raise RuntimeMissingError(
        "no LiteRT runtime is installed (" + "; ".join(errors) + "); "
        "install one with: python3 -m pip install ai-edge-litert"
    )


def _version_of(name: str) -> str:
    # The package's own __version__ first: importlib.metadata scans every
    # distribution on sys.path, which costs tens of ms at each agent start.
    top = sys.modules.get(name.replace("-", "_"))
    version = getattr(top, "__version__", None)
    if isinstance(version, str) and version and name != "tensorflow":
        return version
    try:
        from importlib import metadata

        dist = {"tensorflow": "tensorflow"}.get(name, name)
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            if name == "tensorflow":
                return metadata.version("tensorflow-cpu")
            raise
    except Exception:  # noqa: BLE001 - version is informative only
        module = importlib.import_module(name.replace("-", "_"))
        return str(getattr(module, "__version__", "unknown"))


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Points fd 2 at /dev/null while the block runs.

    The runtime's and the converter's C++ sides log straight to fd 2 ("INFO: Created
    TensorFlow Lite XNNPACK delegate", "fully_quantize: 0, ..."), which would break
    one-line CLI errors and garble a TUI screen. fd 2 is process-wide, so other
    threads' native stderr is dropped meanwhile too."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def make_interpreter(
    model_path: Optional[str] = None,
    model_content: Optional[bytes] = None,
    threads: Optional[int] = None,
    prefer: Optional[str] = None,
    quiet: bool = False,
) -> Any:
    """Builds an interpreter for a model and allocates its tensors.

    With `quiet`, the runtime's own log lines on stderr are dropped while it
    loads (its errors still arrive as the exception's text).
    Raises RuntimeMissingError, or the runtime's own ValueError/RuntimeError
    (e.g. "Didn't find op for builtin opcode ...") for a model it cannot run.
    """
    if quiet:
        with stderr_silenced():
            return make_interpreter(model_path, model_content, threads, prefer, quiet=False)
    cls = interpreter_class(prefer)
    kwargs: Dict[str, Any] = {}
    if threads is not None:
        kwargs["num_threads"] = int(threads)
    if model_content is not None:
        interpreter = cls(model_content=model_content, **kwargs)
    else:
        interpreter = cls(model_path=model_path, **kwargs)
    interpreter.allocate_tensors()
    return interpreter


def quantize(values: np.ndarray, detail: Dict[str, Any]) -> np.ndarray:
    """Converts real values to the tensor's dtype, quantizing with its scale/zero point."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = _scale_zero(detail)
    if scale and np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        q = np.round(np.asarray(values, dtype=np.float64) / scale + zero_point)
        return np.clip(q, info.min, info.max).astype(dtype)
    return np.asarray(values).astype(dtype)


def dequantize(values: np.ndarray, detail: Dict[str, Any]) -> np.ndarray:
    """Converts a tensor's values to float32, dequantizing with its scale/zero point."""
    scale, zero_point = _scale_zero(detail)
    arr = np.asarray(values)
    if scale and np.issubdtype(arr.dtype, np.integer):
        return ((arr.astype(np.float32) - zero_point) * scale).astype(np.float32)
    return arr.astype(np.float32)


def _scale_zero(detail: Dict[str, Any]) -> Tuple[float, int]:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


def generated_input(
    detail: Dict[str, Any],
    kind: str,
    rng: np.random.Generator,
    low: float = -1.0,
    high: float = 1.0,
) -> np.ndarray:
    """Returns an input for a tensor: 'zeros' or 'random' (integers over the dtype's
    range, floats uniform in [low, high)).

    Dynamic dimensions (-1 in the signature) are already concrete in `shape`.
    """
    shape = tuple(int(d) for d in detail["shape"])
    dtype = np.dtype(detail["dtype"])
    if kind == "zeros":
        return np.zeros(shape, dtype=dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(int(info.min), int(info.max), size=shape, endpoint=True).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def run_once(interpreter: Any, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Sets every input (already in the tensor's dtype), invokes, returns copies of outputs."""
    for detail, value in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()]
