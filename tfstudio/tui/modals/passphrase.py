"""Asks for an SSH key's passphrase (masked); Escape skips the key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tfstudio.tui.widgets.chrome import KeyFooter


class PassphraseModal(ModalScreen["str | None"]):
    """Dismisses with the passphrase, or None when the user gives up."""

    BINDINGS = [Binding("escape", "skip", "Skip")]

    def __init__(self, key_path: str, wrong: bool = False) -> None:
        super().__init__()
        self.key_path = key_path
        self.wrong = wrong

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", can_focus=False):
            yield Label("Key passphrase", classes="dialog-title")
            note = "That passphrase was wrong. " if self.wrong else ""
            yield Static(f"{note}Passphrase for {self.key_path}:", classes="dialog-body")
            yield Input(password=True, id="passphrase")
            yield Static("Enter to use it (kept in memory only), Escape to skip.", classes="dim")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_skip(self) -> None:
        """Gives up on this key."""
        self.dismiss(None)
