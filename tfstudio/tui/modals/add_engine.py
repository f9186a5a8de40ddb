"""The engine form: a Docker Engine for training jobs (`tfstudio engines add`'s fields
that a person types: name, address, SSH key, default workspace)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tfstudio.studio.types import Engine
from tfstudio.tui.widgets.chrome import KeyFooter

FIELDS = (
    ("name", "name", "e.g. gpubox"),
    ("url", "address", "ssh://user@host, tcp://host:2376 or unix:///path"),
    ("key", "key", "SSH private key file (ssh://, optional)"),
    ("workspace", "workspace", "jobs' default workspace: a path on that host"),
)
"""(field, label, placeholder), in the order of the form."""


class AddEngineModal(ModalScreen["Engine | None"]):
    """Dismisses with an Engine (not yet stored: the registry checks it), or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+r", "submit", "Add", priority=True),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="engine-form", can_focus=False):
            yield Label("Add a Docker Engine for training jobs", classes="dialog-title")
            with Grid(classes="form-grid"):
                for field, label, placeholder in FIELDS:
                    yield Label(label)
                    yield Input(placeholder=placeholder, id=f"engine-{field}", compact=True)
            yield Static("", id="engine-error", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add (ctrl+r)", variant="primary", id="add", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#engine-name", Input).focus()

    def value(self, field: str) -> str:
        """The stripped text of one field."""
        return self.query_one(f"#engine-{field}", Input).value.strip()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        """Dismisses with the engine once its name and address are given."""
        missing = [label for field, label, _ in FIELDS[:2] if not self.value(field)]
        if missing:
            self.query_one("#engine-error", Static).update(f"give its {' and '.join(missing)}")
            return
        self.dismiss(
            Engine(
                name=self.value("name"),
                url=self.value("url"),
                key=self.value("key") or None,
                workspace=self.value("workspace") or None,
            )
        )

    def action_cancel(self) -> None:
        """Closes without adding."""
        self.dismiss(None)
