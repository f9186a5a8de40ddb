"""The TensorFlow version of an image that has no label saying it: ask the image's Python.

The probe reads the installed distribution's metadata (no `import
tensorflow`, so it takes a container start, not seconds) and is cached by
image ID in `TFSTUDIO_HOME/image-probes.json`: an image ID names its content,
so the answer never goes stale.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from tfstudio.atomic import file_lock, write_text_atomic
from tfstudio.config import studio_home
from tfstudio.training.client import EngineClient
from tfstudio.training.images import ImageInfo
from tfstudio.training.oneshot import ProgramMissingError, run_oneshot

CACHE_NAME = "image-probes.json"
NONE = "none"
"""Cached answer for an image without TensorFlow."""

PROBE = (
    "import importlib.metadata as m\n"
    "names = ('tensorflow', 'tensorflow-cpu', 'tensorflow-gpu', 'tf-nightly', 'tensorflow-intel')\n"
    "for d in names:\n"
    "    try:\n"
    "        print('TFSTUDIO-TF', m.version(d)); break\n"
    "    except Exception:\n"
    "        pass\n"
)


def probe_versions(client: EngineClient, images: list[ImageInfo]) -> list[ImageInfo]:
    """Returns `images` with `tf_version` filled by a probe where no label told it.

    Each image ID is probed at most once, ever. Raises EngineError.
    """
    cache = _read_cache()
    changed = False
    out = []
    for info in images:
        if info.tf_version is None:
            if info.id not in cache:
                cache[info.id] = _probe(client, info.id)
                changed = True
            found = cache[info.id]
            if found != NONE:
                info = replace(info, tf_version=found, tf_version_source="probe")
        out.append(info)
    if changed:
        path = studio_home() / CACHE_NAME
        with file_lock(path.with_suffix(".lock")):
            merged = {**_read_cache(), **cache}
            write_text_atomic(path, json.dumps(merged, indent=2, sort_keys=True) + "\n")
    return out


def _probe(client: EngineClient, image_id: str) -> str:
    for python in ("python3", "python"):
        try:
            result = run_oneshot(
                client, image_id, [python, "-c", PROBE], kind="image-probe", timeout_s=60
            )
        except ProgramMissingError:
            continue
        for line in result.output.splitlines():
            if line.startswith("TFSTUDIO-TF "):
                return line.split(" ", 1)[1].strip()
        return NONE
    return NONE


def _read_cache() -> dict[str, Any]:
    path = studio_home() / CACHE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
