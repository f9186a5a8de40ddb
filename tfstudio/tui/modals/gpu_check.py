"""The GPU-check form: which image, and which GPUs to ask for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tfstudio.tui.widgets.chrome import KeyFooter
from tfstudio.tui.widgets.image_field import ImageField

if TYPE_CHECKING:
    from tfstudio.studio.training import Training


class GpuCheckModal(ModalScreen["tuple[str, str] | None"]):
    """Dismisses with (image, gpus), or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+r", "submit", "Check", priority=True),
    ]

    def __init__(
        self, training: Training, *, image: str = "", gpus: str = "none", images: Sequence[str] = ()
    ) -> None:
        super().__init__()
        self.training = training
        self.image = image
        self.gpus = gpus
        self.images = list(images)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", can_focus=False):
            yield Label(
                "GPU check: TensorFlow's view of the GPUs, in an image", classes="dialog-title"
            )
            with Grid(classes="form-grid"):
                yield Label("image")
                yield ImageField(self.training.check_image, self.image, self.images)
                yield Label("gpus")
                yield Input(
                    self.gpus, placeholder="none, all, N or 0,1", id="check-gpus", compact=True
                )
            yield Static(
                "Runs a matmul on /GPU:0 (or the CPU) and counts MirroredStrategy replicas.",
                classes="dim",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Check (ctrl+r)", variant="primary", id="check", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(".image-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "check":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        """Dismisses with the choice when the image is pinned."""
        field = self.query_one(ImageField)
        if field.verdict() is None:
            gpus = self.query_one("#check-gpus", Input).value.strip() or "none"
            self.dismiss((field.value, gpus))

    def action_cancel(self) -> None:
        """Closes without checking."""
        self.dismiss(None)
