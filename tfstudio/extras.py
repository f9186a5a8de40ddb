"""Imports of optional heavy dependencies, with a clear message when an extra is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from tfstudio.errors import MissingExtraError

_INSTALL_HINT = {
    "convert": "pip install 'tfstudio[convert]'",
    "agent": "pip install 'tfstudio[agent]'",
}


def require(module: str, extra: str) -> ModuleType:
    """Imports `module` or raises MissingExtraError naming the install command for `extra`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = _INSTALL_HINT.get(extra, f"pip install 'tfstudio[{extra}]'")
        raise MissingExtraError(
            f"{module} is not installed; the '{extra}' extra is needed for this command",
            hint=f"run: {hint}",
        ) from exc


def tensorflow() -> ModuleType:
    """Returns the tensorflow module, quieting its start-up logs. Raises MissingExtraError."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return require("tensorflow", "convert")
