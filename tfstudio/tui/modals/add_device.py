"""The add-device form: name, host, port, user, key, python; validated by the registry."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tfstudio.errors import TfStudioError
from tfstudio.studio.types import Device

FIELDS = (
    ("name", "name, e.g. pi1"),
    ("host", "host, IP or ~/.ssh/config alias"),
    ("port", "port (default 22)"),
    ("user", "user (default: ssh config or you)"),
    ("key", "private key file (optional)"),
    ("python", "python on the device (default python3)"),
)


class AddDeviceModal(ModalScreen["Device | None"]):
    """Dismisses with a validated (not yet stored) Device, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Add a device reached over SSH", classes="dialog-title")
            for name, placeholder in FIELDS:
                yield Input(placeholder=placeholder, id=f"add-{name}")
            yield Static("", id="add-error", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add", variant="primary", id="add")
                yield Button("Cancel (esc)", id="cancel")

    def value(self, name: str) -> str:
        """The stripped text of one field."""
        return self.query_one(f"#add-{name}", Input).value.strip()

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        port = self.value("port")
        if port and not port.isdigit():
            self.query_one("#add-error", Static).update("port must be a number")
            return
        try:
            device = Device(
                name=self.value("name"),
                host=self.value("host") or None,
                port=int(port) if port else None,
                user=self.value("user") or None,
                key=self.value("key") or None,
                python=self.value("python") or "python3",
            )
        except TfStudioError as exc:
            self.query_one("#add-error", Static).update(str(exc))
            return
        self.dismiss(device)

    def action_cancel(self) -> None:
        """Closes without adding."""
        self.dismiss(None)
