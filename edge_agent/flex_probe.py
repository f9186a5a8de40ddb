"""Can this device's runtime run TensorFlow (Flex) ops? Asked of the runtime, not guessed.

Models converted with SELECT_TF_OPS hold custom ops named Flex*, which only a
runtime with the Flex delegate linked in can run (ai-edge-litert, tflite-runtime
and even TensorFlow 2.21's own tf.lite load none). The probe builds an
interpreter for a 908-byte model holding one Flex op (MatrixInverse, converted
by TensorFlow 2.21): it loads only where the delegate is there.
"""

from __future__ import annotations

import base64
import zlib
from typing import Optional

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
