"""Which LiteRT runtime and numpy this device has, and their versions, found without importing them.

`info` must answer in a cold start of a few tens of ms, and must answer where
numpy or the runtime is absent or broken (so the studio can name what is
missing). Importing numpy and a runtime costs 0.15 s here and seconds on a
small board, so this module imports neither: it looks for each package's
directory on `sys.path` and reads its version from the name of the installed
distribution's metadata directory (`numpy-2.4.6.dist-info`), which one
directory listing per path entry finds. `runtime` (which does import them, to
build interpreters) uses the same order and the same TF-level numbering.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: `info` is the cold-start path
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

RUNTIME_ORDER: Tuple[Tuple[str, str], ...] = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
    # `tensorflow.lite` itself is a lazy API module without `Interpreter` when
    # imported by name (TF 2.21); the class lives in its python package.
    ("tensorflow", "tensorflow.lite.python.interpreter"),
)
"""(runtime name, module holding `Interpreter`), in order of preference."""

DISTRIBUTIONS: Dict[str, Tuple[str, ...]] = {
    "ai-edge-litert": ("ai_edge_litert",),
    "tflite-runtime": ("tflite_runtime",),
    "tensorflow": ("tensorflow", "tensorflow_cpu", "tensorflow_aarch64"),
    "numpy": ("numpy",),
}
"""Package name → the distribution names (normalized) that install it."""

LITERT_COMPAT: Tuple[Tuple[Tuple[int, ...], str], ...] = (
    ((2, 2), "2.21.0"),
    ((2, 0), "2.20.0"),
    ((1, 2), "2.19.0"),
    ((1, 0), "2.14.0"),
)
"""ai-edge-litert release → the TensorFlow Lite runtime level whose op versions it
registers, as measured (`measured.release_level`: 1.0.1 lacks TRANSPOSE v7, 1.3.0 PAD
v5, 2.0.3 FULLY_CONNECTED v14; a test holds these to the measured wheels). A model's
`min_runtime_version` is in TensorFlow's numbering, so the agent reports every
runtime in that numbering as `compat_version`."""

UNKNOWN = "unknown"


def parse_version(text: Optional[str]) -> Tuple[int, ...]:
    """Returns a version string such as '2.17.0' or '2.14.0rc1' as a comparable tuple."""
    if not text:
        return (0,)
    parts: List[int] = []
    for piece in text.strip().split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or (0,)


def compat_version(name: str, version: str) -> str:
    """Returns a runtime's version in TensorFlow's numbering (ai-edge-litert is renumbered)."""
    if name != "ai-edge-litert":
        return version
    parsed = parse_version(version)
    for floor, compat in LITERT_COMPAT:
        if parsed >= floor:
            return compat
    return LITERT_COMPAT[-1][1]


def _listing(entry: str, cache: Dict[str, List[str]]) -> List[str]:
    if entry not in cache:
        try:
            cache[entry] = os.listdir(entry or ".")
        except OSError:  # a zip on sys.path (the agent's own .pyz), or gone
            cache[entry] = []
    return cache[entry]


def _version_in(names: List[str], dists: Tuple[str, ...]) -> Optional[str]:
    """Returns the version in `name-VERSION.dist-info` (or `.egg-info`) of one of `dists`."""
    for name in names:
        for suffix in (".dist-info", ".egg-info"):
            if not name.endswith(suffix):
                continue
            stem = name[: -len(suffix)]
            dist, sep, version = stem.partition("-")
            if sep and dist.replace(".", "_").lower() in dists:
                return version.split("-")[0]  # egg-info: name-1.2.3-py3.9
    return None


def installed_version(package: str, cache: Optional[Dict[str, List[str]]] = None) -> Optional[str]:
    """Returns the version of `package` (a key of DISTRIBUTIONS) as installed, or None.

    The first `sys.path` entry holding its top-level package wins, as for an
    import; a package without metadata beside it reports "unknown".
    """
    cache = {} if cache is None else cache
    dists = DISTRIBUTIONS[package]
    top = dists[0] if package != "tensorflow" else "tensorflow"
    for entry in sys.path:
        names = _listing(entry, cache)
        if top not in names and f"{top}.py" not in names:
            continue
        return _version_in(names, dists) or UNKNOWN
    return None


def installed_runtime(
    cache: Optional[Dict[str, List[str]]] = None,
) -> Optional[Dict[str, str]]:
    """Returns {"name", "version", "compat_version"} of the first runtime installed, or None."""
    cache = {} if cache is None else cache
    for name, _module in RUNTIME_ORDER:
        version = installed_version(name, cache)
        if version is not None:
            return {
                "name": name,
                "version": version,
                "compat_version": compat_version(name, version),
            }
    return None
