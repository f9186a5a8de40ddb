"""`q` while an operation runs: ask first, then cancel it and show it stop.

Quitting at once would leave the operation's thread running behind a blank
screen until it ends by itself (a stall or install timeout: tens of seconds).
Instead the dialog asks; on yes every operation is cancelled and the dialog
lists what still runs, updated as each stops, and the app ends when none is left.
"""

from __future__ import annotations

import time
from typing import Any, Protocol, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from tfstudio.tui.widgets.chrome import KeyFooter


class QuittingApp(Protocol):
    """What the dialog uses of the app (`tfstudio.tui.app.StudioApp`)."""

    def running_operations(self) -> list[str]: ...

    def cancel_everything(self) -> None: ...


TICK_S = 0.2
"""How often the list of what still runs is redrawn while cancelling."""


class QuitModal(ModalScreen[None]):
    """Asks "cancel it and quit?"; then shows the cancel until everything stopped."""

    BINDINGS = [
        Binding("y", "answer(True)", "Cancel and quit"),
        Binding("n,escape", "answer(False)", "Keep running"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cancelling_since: float | None = None

    @property
    def studio_app(self) -> QuittingApp:
        """The app, typed."""
        return cast("QuittingApp", self.app)

    def compose(self) -> ComposeResult:
        running = self.studio_app.running_operations()
        what = "an operation is" if len(running) == 1 else "operations are"
        with VerticalScroll(classes="dialog -danger", id="quit-dialog", can_focus=False):
            yield Label(f"Quit: {what} running", classes="dialog-title")
            yield Static(self._lines(running), classes="dialog-body", id="quit-running")
            yield Static(
                "Cancel it and quit? It stops at its next safe point.",
                classes="dialog-body",
                id="quit-question",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel and quit (y)", variant="error", id="yes")
                yield Button("Keep running (n)", id="no")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @staticmethod
    def _lines(running: list[str]) -> str:
        return "\n".join(f"  {name}" for name in running) or "  nothing any more"

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        """No: back to the app. Yes: cancels everything, then waits for it to stop;
        yes again (or q) while waiting ends the app without waiting."""
        if not yes:
            if self.cancelling_since is None:
                self.dismiss(None)
            return
        if self.cancelling_since is not None:
            self.app.exit()
            return
        self.cancelling_since = time.monotonic()
        self.studio_app.cancel_everything()
        self.query_one(".dialog-buttons").display = False
        self.query_one(".dialog-title", Label).update("Quitting: cancelling...")
        self._tick()
        self.set_interval(TICK_S, self._tick)

    def _tick(self) -> None:
        running = self.studio_app.running_operations()
        if not running:
            self.app.exit()
            return
        waited = time.monotonic() - (self.cancelling_since or time.monotonic())
        self.query_one("#quit-running", Static).update(
            "\n".join(f"  cancelling {name}..." for name in running)
        )
        self.query_one("#quit-question", Static).update(
            f"waiting {waited:.0f} s for it to stop  [dim](q again: quit without waiting)[/]"
        )

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        # Once cancelling, n and Escape do nothing (the operations are already cancelled).
        if action == "answer" and parameters == (False,) and self.cancelling_since is not None:
            return False
        return True
