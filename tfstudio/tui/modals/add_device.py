"""The device form: add a device, or edit one (its name stays); validated by the registry.

Every field has a label beside it (a placeholder alone vanishes once the field is
filled), the form scrolls to the focused field, and the buttons stay on screen
at 80x24. Enter in any field submits; Escape cancels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tfstudio.errors import TfStudioError
from tfstudio.studio.types import Device
from tfstudio.tui.widgets.chrome import KeyFooter
from tfstudio.tui.widgets.hints import ui_hint

FIELDS = (
    ("name", "name", "e.g. pi1"),
    ("host", "host", "IP, hostname or ~/.ssh/config alias"),
    ("port", "port", "22"),
    ("user", "user", "from ssh config, else you"),
    ("key", "key", "private key file (optional)"),
    ("python", "python", "python3"),
    ("agent_home", "agent home", ".tfstudio-agent"),
)
"""(field, label, placeholder), in the order of the form."""


class AddDeviceModal(ModalScreen["Device | None"]):
    """Dismisses with a Device checked by `validate` (not yet stored), or None.

    With `device`, the form edits it: its fields are filled in, its name is fixed.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+r", "submit", "Save", priority=True),
    ]

    def __init__(self, validate: Callable[[Device], Device], device: Device | None = None) -> None:
        super().__init__()
        self.validate = validate
        self.device = device
        if device is None:
            # The footer names ctrl+r as the button does: "Add" a device, "Save" an edit.
            self._bindings.key_to_bindings["ctrl+r"] = [
                Binding("ctrl+r", "submit", "Add", priority=True)
            ]

    def _initial(self, field: str) -> str:
        if self.device is None:
            return ""
        value = getattr(self.device, field)
        return "" if value is None else str(value)

    def compose(self) -> ComposeResult:
        editing = self.device is not None
        title = (
            f"Edit device {self.device.name}" if self.device else "Add a device reached over SSH"
        )
        with VerticalScroll(classes="dialog", id="device-form", can_focus=False):
            yield Label(title, classes="dialog-title")
            with Grid(classes="form-grid"):
                for field, label, placeholder in FIELDS:
                    yield Label(label)
                    yield Input(
                        self._initial(field),
                        placeholder=placeholder,
                        id=f"add-{field}",
                        compact=True,
                        disabled=editing and field == "name",
                    )
            yield Static("", id="add-error", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    "Save (ctrl+r)" if editing else "Add (ctrl+r)",
                    variant="primary",
                    id="add",
                    compact=True,
                )
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#add-host" if self.device else "#add-name", Input).focus()

    def value(self, name: str) -> str:
        """The stripped text of one field."""
        return self.query_one(f"#add-{name}", Input).value.strip()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add":
            self.action_submit()
        else:
            self.dismiss(None)

    def _fail(self, text: str, field: str | None = None) -> None:
        self.query_one("#add-error", Static).update(text)
        if field is not None:
            self.query_one(f"#add-{field}", Input).focus()

    def action_submit(self) -> None:
        """Dismisses with the device when its fields are valid; else says what is wrong."""
        port = self.value("port")
        if port and not port.isdigit():
            self._fail("port must be a number", "port")
            return
        fields: dict[str, Any] = {
            "host": self.value("host") or None,
            "port": int(port) if port else None,
            "user": self.value("user") or None,
            "key": self.value("key") or None,
            "python": self.value("python") or "python3",
        }
        if self.value("agent_home"):
            fields["agent_home"] = self.value("agent_home")
        try:
            if self.device is not None:
                device = replace(self.device, **fields)
            else:
                device = Device(name=self.value("name"), **fields)
            device = self.validate(device)
        except TfStudioError as exc:
            self._fail(exc.message + (f"\n[dim]{ui_hint(exc.hint)}[/]" if exc.hint else ""))
            return
        self.dismiss(device)

    def action_cancel(self) -> None:
        """Closes without saving."""
        self.dismiss(None)
