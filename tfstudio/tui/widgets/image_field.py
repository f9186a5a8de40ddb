"""An image reference field that says at once whether the tag policy takes it, and why not.

The check is the core's (`Studio.training.check_image`): pure, no engine asked,
so it runs as the user types. Local pinned images are offered as suggestions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from tfstudio.errors import TfStudioError

PLACEHOLDER = "REPO:VERSION, e.g. tensorflow/tensorflow:2.21.0-gpu"


class ImageField(Vertical):
    """An Input for an image reference and a line with the policy's verdict."""

    DEFAULT_CSS = """
    ImageField { height: auto; }
    ImageField .policy { height: auto; padding: 0 1; }
    """

    def __init__(
        self,
        check: Callable[[str], object],
        value: str = "",
        suggestions: Sequence[str] = (),
        *,
        id: str | None = None,  # noqa: A002 - Textual's name for it
    ) -> None:
        super().__init__(id=id)
        self._check = check
        self._value = value
        self._suggestions = list(suggestions)

    def compose(self) -> ComposeResult:
        yield Input(
            self._value,
            placeholder=PLACEHOLDER,
            suggester=SuggestFromList(self._suggestions) if self._suggestions else None,
            compact=True,
            classes="image-input",
        )
        yield Static("", classes="policy")

    def on_mount(self) -> None:
        self.verdict()

    @property
    def input(self) -> Input:
        """The text field."""
        return self.query_one(Input)

    @property
    def value(self) -> str:
        """The reference as typed, stripped."""
        return self.input.value.strip()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.verdict()

    def verdict(self) -> str | None:
        """Shows and returns why the reference is refused (None when it is taken)."""
        line = self.query_one(".policy", Static)
        if not self.value:
            line.update("[dim]pinned tags only: a version tag or a digest[/]")
            return "no image given"
        try:
            self._check(self.value)
        except TfStudioError as exc:
            # The forms offer no override (pinned tags only), so the CLI's flag is left out.
            how = (exc.hint or "").split("; --allow-latest", 1)[0]
            hint = f"\n[dim]{how}[/]" if how else ""
            line.update(f"[$error]refused:[/] {exc.message}{hint}")
            return exc.message
        line.update("[$success]pinned[/] [dim]the tag names a version[/]")
        return None
