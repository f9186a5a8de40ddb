"""`tfstudio ui` (and `tfstudio` with no arguments on a terminal): open the terminal UI.

The UI package is imported by name at call time, never at start-up, so the
CLI's import graph stays free of textual (an import-linter contract checks it).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from tfstudio.errors import UsageError

UI_PACKAGE = "tfstudio.tui"


def register(subparsers: Any) -> None:
    """Adds `ui`."""
    parser = subparsers.add_parser(
        "ui", help="open the terminal UI (also what `tfstudio` alone does on a terminal)"
    )
    parser.set_defaults(handler=run)


def run(_args: argparse.Namespace | None = None) -> int:
    """Opens the UI and returns its exit code. Raises UsageError without a terminal."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "the terminal UI needs a terminal",
            hint="run it in a terminal, or use the subcommands (tfstudio --help)",
        )
    return int(importlib.import_module(UI_PACKAGE).run())
