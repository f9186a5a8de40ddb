"""The new-job form: a pinned image, the command, GPUs, workspace, limits, env, name,
and on an engine that is a swarm manager, how many workers (a multi-worker job).

The image field says at once why a `latest`, untagged or floating reference
is refused (the core's tag policy, the same words as the CLI). On submit the
whole request is checked by the core (`Studio.training.plan`: limits, GPUs,
workspace; no engine asked), so a mistake is shown in the form, which stays
open, instead of failing later in a worker.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tfstudio.errors import TfStudioError
from tfstudio.studio.training_types import TrainRequest
from tfstudio.tui.widgets.image_field import ImageField

if TYPE_CHECKING:
    from tfstudio.studio.training import Training

FIELDS = (
    ("command", "command", "python train.py (runs in /workspace)"),
    ("workspace", "workspace", "directory mounted at /workspace"),
    ("gpus", "gpus", "none, all, a count, or ids 0,1"),
    ("cpus", "cpus", "no limit, e.g. 2 or 0.5"),
    ("memory", "memory", "no limit, e.g. 4g"),
    ("shm", "shm size", "engine default, e.g. 1g"),
    ("env", "env", "K=V K2=V2"),
    ("name", "name", "default tfstudio-<job id>"),
)
"""(field id, label, placeholder) below the image."""
WORKERS = ("workers", "workers", "1: one container; 2 or more: a swarm job")
"""The field a swarm manager's form adds: MultiWorkerMirroredStrategy workers."""


class NewJobModal(ModalScreen["TrainRequest | None"]):
    """Dismisses with a checked TrainRequest, or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+r", "submit", "Start", priority=True),
    ]

    def __init__(
        self,
        training: Training,
        *,
        engine: str,
        image: str = "",
        images: Sequence[str] = (),
        defaults: dict[str, str] | None = None,
        swarm: bool = False,
    ) -> None:
        super().__init__()
        self.swarm = swarm
        self.training = training
        self.engine = engine
        self.image = image
        self.images = list(images)
        self.defaults = defaults or {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="new-job"):
            yield Label(f"New job on engine {self.engine}", classes="dialog-title")
            with Grid(classes="form-grid"):
                yield Label("image")
                yield ImageField(self.training.check_image, self.image, self.images, id="image")
                for field, label, placeholder in FIELDS + ((WORKERS,) if self.swarm else ()):
                    yield Label(label)
                    yield Input(
                        self.defaults.get(field, ""),
                        placeholder=placeholder,
                        id=f"job-{field}",
                        compact=True,
                    )
            yield Static("", id="job-error", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start (ctrl+r)", variant="primary", id="start", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)

    def on_mount(self) -> None:
        target = "#job-command" if self.image else ".image-input"
        self.query_one(target, Input).focus()

    @property
    def image_field(self) -> ImageField:
        """The image reference with its policy line."""
        return self.query_one(ImageField)

    def value(self, field: str) -> str:
        """The stripped text of one field below the image."""
        return self.query_one(f"#job-{field}", Input).value.strip()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_submit()
        else:
            self.dismiss(None)

    def request(self) -> TrainRequest:
        """The form as a request (not yet checked). Raises TfStudioError for bad env words."""
        from tfstudio.errors import UsageError

        try:
            env = tuple(shlex.split(self.value("env")))
        except ValueError as exc:
            raise UsageError(f"env {self.value('env')!r}: {exc}") from None
        workers = self.value("workers") if self.swarm else ""
        if workers and not workers.isdigit():
            raise UsageError(f"workers {workers!r} is not a number")
        return TrainRequest(
            self.value("command"),
            image=self.image_field.value,
            engine=self.engine,
            gpus=self.value("gpus") or None,
            workspace=self.value("workspace") or None,
            cpus=self.value("cpus") or None,
            memory=self.value("memory") or None,
            shm_size=self.value("shm") or None,
            env=env,
            name=self.value("name") or None,
            workers=int(workers) if workers and workers != "1" else None,
        )

    def action_submit(self) -> None:
        """Checks the request with the core; starts it, or says what is wrong."""
        error = self.query_one("#job-error", Static)
        refused = self.image_field.verdict()
        if refused is not None:
            error.update("the image is refused: see above (pinned tags only)")
            self.image_field.input.focus()
            return
        try:
            request = self.request()
            self.training.plan(request)
        except TfStudioError as exc:
            error.update(exc.message + (f"\n[dim]{exc.hint}[/]" if exc.hint else ""))
            return
        self.dismiss(request)

    def action_cancel(self) -> None:
        """Closes without starting anything."""
        self.dismiss(None)
