"""The agent home's layout, read with `os` and `json` alone: what `info` reports about the store.

`info` is the agent's cold-start path (the studio's first question, a
person's first command), so what it reads of the home (the active model,
the stored models, the uploads waiting in the inbox) is read here without
pathlib, regular expressions or typing, which together cost more than a
bare Python start. `store` and `space` use the same readers.
"""

from __future__ import annotations

import json
import os
import time

TYPE_CHECKING = False  # typing itself is not imported at run time (see the docstring)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

MODELS_DIR = "models"
INBOX_DIR = "inbox"
STATE_FILE = "active.json"
MODEL_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"
PARTIAL_SUFFIX = ".partial"

_HEX = frozenset("0123456789abcdef")


def is_sha(name: str) -> bool:
    """True for a lowercase hex sha256 (64 digits)."""
    return len(name) == 64 and _HEX.issuperset(name)


def read_json(path: str, default: Any = None) -> Any:
    """Returns the JSON in `path`, or `default` when it does not exist. Raises ValueError."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default


def stored_models(home: str) -> List[str]:
    """Returns the sha256 of every complete stored model (its manifest is written last)."""
    models = os.path.join(home, MODELS_DIR)
    try:
        names = os.listdir(models)
    except OSError:
        return []
    return sorted(
        n for n in names if is_sha(n) and os.path.isfile(os.path.join(models, n, MANIFEST_FILE))
    )


def active_ref(home: str) -> Optional[Dict[str, Any]]:
    """Returns {"sha256", "name"} of the active model, or None when none is active."""
    try:
        state = read_json(os.path.join(home, STATE_FILE)) or {}
    except ValueError:
        return None
    sha = state.get("active") if isinstance(state, dict) else None
    if not sha:
        return None
    try:
        manifest = read_json(os.path.join(home, MODELS_DIR, sha, MANIFEST_FILE)) or {}
    except ValueError:
        manifest = {}
    return {"sha256": sha, "name": manifest.get("name") if isinstance(manifest, dict) else None}


def rollback_target(home: str) -> Optional[str]:
    """Returns the sha256 `rollback` would return to (the newest stored model in the
    pointer's history), or None."""
    try:
        state = read_json(os.path.join(home, STATE_FILE)) or {}
    except ValueError:
        return None
    history = state.get("history") if isinstance(state, dict) else None
    stored = set(stored_models(home))
    for sha in reversed(history if isinstance(history, list) else []):
        if sha in stored:
            return str(sha)
    return None


def partials(home: str) -> List[Dict[str, Any]]:
    """Returns the uploads waiting in inbox/: [{"sha256", "bytes", "age_s"}]."""
    inbox = os.path.join(home, INBOX_DIR)
    try:
        names = os.listdir(inbox)
    except OSError:
        return []
    now = time.time()
    found = []
    for name in sorted(names):
        sha = name[: -len(PARTIAL_SUFFIX)]
        if not name.endswith(PARTIAL_SUFFIX) or not is_sha(sha):
            continue
        try:
            st = os.stat(os.path.join(inbox, name))
        except OSError:
            continue
        age = round(max(0.0, now - st.st_mtime), 1)
        found.append({"sha256": sha, "bytes": st.st_size, "age_s": age})
    return found
