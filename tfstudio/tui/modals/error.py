"""Shows an error that needs more than a notification: the message, the fix, the details."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from tfstudio.tui.widgets.chrome import KeyFooter


class ErrorModal(ModalScreen[None]):
    """One-line message, optional hint (the fix), dismissed with Enter or Escape."""

    BINDINGS = [Binding("escape,enter", "close", "Close")]

    def __init__(self, title: str, message: str, hint: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.hint = hint

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog -danger", can_focus=False):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-body", id="error-message")
            if self.hint:
                yield Static(f"fix: {self.hint}", classes="dialog-hint", id="error-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        """Closes the dialog."""
        self.dismiss(None)
