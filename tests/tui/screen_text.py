"""The screen as plain text (what a terminal without colour shows, as `tmux capture-pane`
without -e captures it), for tests that check what can be read without colour."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console


def screen_text(app: Any) -> str:
    """Returns the app's whole screen (dialogs over their view) as lines of plain text."""
    width, height = app.size
    console = Console(
        file=io.StringIO(),
        width=width,
        height=height,
        color_system=None,
        force_terminal=False,
        legacy_windows=False,
    )
    console.print(app.screen._compositor.render_update(full=True), end="")
    text = console.file.getvalue()
    return "\n".join(line.rstrip() for line in text.splitlines())
