"""Pick one of a few choices: a list with the current one highlighted; Enter picks."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from tfstudio.tui.widgets.chrome import KeyFooter


class ChoiceModal(ModalScreen["str | None"]):
    """Dismisses with the id of the picked choice, or None (Escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        choices: Sequence[tuple[str, str]],
        *,
        current: str | None = None,
        note: str = "",
    ) -> None:
        """`choices`: (id, text) pairs; `current`: the id highlighted first."""
        super().__init__()
        self.title_text = title
        self.choices = list(choices)
        self.current = current
        self.note = note

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", can_focus=False):
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(
                *(Option(text, id=choice) for choice, text in self.choices), id="choices"
            )
            if self.note:
                yield Static(self.note, classes="dim")
        yield KeyFooter()

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        ids = [choice for choice, _ in self.choices]
        options.highlighted = ids.index(self.current) if self.current in ids else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Picks nothing."""
        self.dismiss(None)
