"""JSON without NaN or Infinity: strict JSON parsers (and `jq`) reject them.

The studio's JSON (CLI `--json`, manifests) goes through `json_safe`, which
turns every non-finite float into None. Producers that can say why a value is
missing (the conversion metrics) do so next to it; this is the last guard.
"""

from __future__ import annotations

import math
from typing import Any


def json_safe(obj: Any) -> Any:
    """Returns `obj` with every NaN/inf float (in dicts, lists, tuples) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    return obj
