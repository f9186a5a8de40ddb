"""Can this device's runtime run TensorFlow (Flex) ops? Asked of the runtime, not guessed.

Models converted with SELECT_TF_OPS hold custom ops named Flex*, which only a
runtime with the Flex delegate linked in can run (ai-edge-litert, tflite-runtime
and even TensorFlow 2.21's own tf.lite load none). The probe builds an
interpreter for a 908-byte model holding one Flex op (MatrixInverse, converted
by TensorFlow 2.21): it loads only where the delegate is there.

`info` reports the answer (`runtime.flex_delegate`) but must stay a cold
start of a few tens of ms without numpy or the runtime (see `runtime_meta`),
and must not run native code that could crash it. So `flex_delegate` asks a
runtime child (`validate_child`'s `flex_probe` job) once per Python
environment and keeps the answer in the user's cache directory
(`$XDG_CACHE_HOME/tfstudio-agent/flex-probe.json`), keyed by the interpreter,
the runtime's and numpy's installed versions and the agent's version: the
fact belongs to the installed packages, not to an agent home. Installing
another runtime or numpy changes the key, and the next `info` probes again.
"""

from __future__ import annotations

import json
import os
import sys

from edge_agent import __version__

TYPE_CHECKING = False  # typing is not imported at run time: `info` is the cold-start path
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

CACHE_FILE = "flex-probe.json"

PROBE_TIMEOUT_S = 120.0
"""How long the probe's runtime child may take (importing numpy and a runtime takes
seconds on a small board)."""

_PROBE_MODEL = (
    "eNpdU8FKI0EQrUnGJIQxZrODyJJDEBdEJWSzexIvISoEjIqGvY4jGXUkmSyTjuQDPIkf4MGDBw8e3Nte9UuEvfgd"
    "jq86NUO0yQvdVdWvql71lImos73z06YKlWmBbCqSBVuOTOwJNqJr4BW4NYgegXKaCD/CFtG88voW38njZMm9DWAO"
    "GHrhhR+cOl3vxB31lL5nMl8URfE+BwxG6s9IOTUSbrZnEGPKeQykgF/iexEf4yvQ3Nv9vXVw2NrbddpbncZmo9MA"
    "76Qu5k9Pxfb9wAlHgfL7nnPhhUN/ENAM7P+AR+AeuJT4K8lzlvTL9RYSXtZpTXSwtCWrdeCyTYm3Em1Nrc/f+ePF"
    "p+9L/9PSk+4VqFfrP6pagYzmz4gvzju9bt6i6Ba4A1jn9k7roNIcBOhHed2q1szWkYUkO3MWxM4zuuE5AHeSp+/6"
    "Qay/rfMWdfU5zWPKiWif3w2wCcy2XRX64xYnHnq0Wvpo+EYrs/ms2z0f+IEqpZZpJZs3OqVUzaij942qbZvLhiE5"
    "Dent85k1OpIanzEPdhVFF/ZVgAfYv3Btbqh8hYl63abb663XJCYG0bzWg0SRycrCOkltS++ce0nnNJN38+ktO2Ow"
    "T3PH34SF/znNPZl3Rd44b7nG7Z43/igb0TuRS3j7"
)
"""zlib + base64 of the probe model (one FlexMatrixInverse on a 2x2 float input)."""


def probe_model() -> bytes:
    """Returns the probe model's flatbuffer bytes."""
    import base64
    import zlib

    return zlib.decompress(base64.b64decode(_PROBE_MODEL))


def has_flex_delegate(prefer: Optional[str] = None) -> bool:
    """True when the runtime (the detected one, or `prefer`) loads a model with a Flex op.

    Raises RuntimeMissingError when no runtime can be imported.
    """
    from edge_agent import runtime

    try:
        runtime.make_interpreter(model_content=probe_model(), threads=1, prefer=prefer, quiet=True)
    except runtime.RuntimeMissingError:
        raise
    except Exception:  # noqa: BLE001 - the runtime's refusal, whatever its type
        return False
    return True


def cache_path() -> Optional[str]:
    """Returns the probe cache's path (None where no cache directory can be named)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    return os.path.join(base, "tfstudio-agent", CACHE_FILE)


def _cache_key(runtime: Dict[str, Any], numpy_version: Optional[str]) -> str:
    return " ".join(
        (
            __version__,
            os.path.realpath(sys.executable),
            str(runtime.get("name")),
            str(runtime.get("version")),
            f"numpy-{numpy_version}",
        )
    )


def _read_cache(path: Optional[str]) -> Dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            cached = json.load(handle)
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def _write_cache(path: str, key: str, value: bool) -> None:
    """Adds key → value to the cache (best effort: an unwritable cache only costs a probe)."""
    cached = _read_cache(path)
    cached[key] = value
    temp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(cached, handle, sort_keys=True)
        os.replace(temp, path)
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass


def probe_in_child(timeout_s: float = PROBE_TIMEOUT_S) -> Optional[bool]:
    """Asks a fresh runtime child whether the runtime loads a Flex model.

    Returns None when the child did not answer in time (unknown); a runtime
    that crashes on the probe model cannot run Flex ops (False).
    """
    from pathlib import Path

    from edge_agent.errors import AgentError
    from edge_agent.validate import RuntimeChild

    child = RuntimeChild(Path(os.getcwd()))
    try:
        answer = child.call("flex_probe", {}, timeout_s)
    except AgentError as exc:
        return None if exc.code == "timeout" else False
    finally:
        child.close()
    return bool(answer.get("flex_delegate"))


def flex_delegate(runtime: Dict[str, Any], numpy_version: Optional[str]) -> Optional[bool]:
    """Returns whether `runtime` (as `runtime_meta` found it) runs Flex ops: from the cache,
    else probed in a runtime child and cached. None when the probe did not answer."""
    path = cache_path()
    key = _cache_key(runtime, numpy_version)
    found = _read_cache(path).get(key)
    if isinstance(found, bool):
        return found
    found = probe_in_child()
    if found is not None and path is not None:
        _write_cache(path, key, found)
    return found
