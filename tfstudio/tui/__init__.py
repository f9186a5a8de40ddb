"""The terminal UI: draws the studio and dispatches to `tfstudio.studio.Studio`.

It holds no domain logic: every operation is a call on the facade, run in a
thread worker that posts typed messages back (see `messages.py`).
"""

from __future__ import annotations

from tfstudio.tui.app import StudioApp, make_app

__all__ = ["StudioApp", "make_app", "run"]


def run() -> int:
    """Opens the UI on the default studio; returns the process exit code."""
    from tfstudio.studio import Studio

    app = make_app(Studio())
    app.run()
    return app.return_code or 0
