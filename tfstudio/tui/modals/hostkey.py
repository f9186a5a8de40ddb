"""The host-key dialog: shows the fingerprint a device offered; trust records it.

Shown between two worker calls (`Studio.scan_host_key`, then
`Studio.record_host_key`), so no thread waits on the user.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from tfstudio.studio.types import CHANGED, HostKeyOffer
from tfstudio.tui.widgets.chrome import KeyFooter


class HostKeyModal(ModalScreen[bool]):
    """Dismisses with True when the user trusts the offered key."""

    BINDINGS = [
        Binding("t", "answer(True)", "Trust"),
        Binding("escape,n", "answer(False)", "Refuse"),
    ]

    def __init__(self, offer: HostKeyOffer) -> None:
        super().__init__()
        self.offer = offer

    def compose(self) -> ComposeResult:
        offer = self.offer
        changed = offer.status == CHANGED
        with VerticalScroll(classes="dialog -danger" if changed else "dialog", can_focus=False):
            if changed:
                yield Label("HOST KEY CHANGED: possible man-in-the-middle", classes="dialog-title")
                body = (
                    f"{offer.device} ({offer.entry}) now offers\n  {offer.key_type} "
                    f"{offer.fingerprint}\nrecorded: {offer.recorded_fingerprint}\n\n"
                    "Replace it only if the device was re-installed and you checked "
                    "the new fingerprint on the device itself."
                )
            else:
                yield Label(f"Trust the host key of {offer.device}?", classes="dialog-title")
                body = (
                    f"{offer.entry} offers\n  {offer.key_type}\n  {offer.fingerprint}\n\n"
                    "Compare it with `ssh-keygen -lf` of the host key on the device."
                )
            yield Static(body, classes="dialog-body", id="hostkey-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    "Replace (t)" if changed else "Trust (t)", variant="warning", id="trust"
                )
                yield Button("Refuse (esc)", id="refuse")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#refuse", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "trust")

    def action_answer(self, value: bool) -> None:
        """Dismisses with `value`."""
        self.dismiss(value)
